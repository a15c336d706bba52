"""A worker that sees nothing of the emulator's home or of the job's input folder: a
``dask worker`` in a mount namespace of its own, with empty tmpfs mounted over both, next
to a scheduler on loopback. Code, models and inputs reach it through Dask (each code or
model version fetched once), and its logs come back. (A worker that cannot reach a
datastore: tests/engine/test_network_namespaces.py.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from emulator.service import BatchService
from tests.helpers import SCORING, SEED, free_port, wait_for_workers

pytestmark = pytest.mark.slow


def unshare_refusal(probe_dir: Path) -> str | None:
    """Why a worker cannot get a mount namespace here, or None when it can."""
    if shutil.which("unshare") is None:
        return "util-linux's unshare is not installed"
    probe_dir.mkdir(exist_ok=True)
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             f"mount -t tmpfs probe {probe_dir}"], capture_output=True, text=True)
    if result.returncode != 0:
        return f"unshare --mount with a tmpfs is not permitted here: {result.stderr.strip()}"
    return None


@dataclass
class HiddenWorker:
    address: str
    home: Path  # hidden from the worker
    inputs: Path  # hidden from the worker
    cache: Path  # the worker's own files (engine.shipping.worker_root)

    def fetched(self) -> list[tuple[str, str]]:
        """(role, digest) of every bundle the worker installed, in order."""
        log = self.cache / "fetched.log"
        return [tuple(line.split()[1:3]) for line in log.read_text().splitlines()] \
            if log.exists() else []


@pytest.fixture(scope="module")
def hidden(tmp_path_factory) -> Iterator[HiddenWorker]:
    root = tmp_path_factory.mktemp("hidden")
    refusal = unshare_refusal(root / "probe")
    if refusal:
        if os.environ.get("CI"):
            raise AssertionError(f"CI must run the hidden-home test: {refusal}")
        pytest.skip(refusal)
    home, inputs, scratch = root / "home", root / "inputs", root / "worker-scratch"
    for folder in (home, inputs, scratch):
        folder.mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(root / "dask.log", "w")  # noqa: SIM115 - closed below
    processes = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", ":0"], stdout=log, stderr=log)]
    worker = (f"mount -t tmpfs hidden-home {home} && mount -t tmpfs hidden-inputs {inputs} "
              f"&& exec {sys.executable} -m distributed.cli.dask_worker {address} --nthreads 2 "
              f"--memory-limit 0 --dashboard-address :0 --local-directory {scratch}")
    processes.append(subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", worker],
        stdout=log, stderr=log, env={**os.environ, "DASK_TEMPORARY_DIRECTORY": str(scratch)}))
    try:
        wait_for_workers(address, 1, "the hidden worker to join the scheduler")
        yield HiddenWorker(address, home, inputs, scratch / "batch-emulator")
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def service(hidden) -> BatchService:
    service = BatchService(home=hidden.home)
    service.create_compute(set_values=["name=batch-cluster", "type=dask",
                                       f"scheduler_address={hidden.address}"])
    return service


def copy_inputs(hidden: HiddenWorker, name: str, source: Path, count: int) -> Path:
    """A local input folder the worker cannot see: ``count`` files of ``source``."""
    folder = hidden.inputs / name
    folder.mkdir()
    for path in sorted(source.iterdir())[:count]:
        shutil.copy(path, folder / path.name)
    return folder


def run(service: BatchService, endpoint: str, inputs: Path, **options) -> tuple[dict, list[str]]:
    """Invoke, wait, and return the job's document and its output rows."""
    name = service.invoke(endpoint, input=str(inputs), **options)["name"]
    record = service.wait_job(name, timeout=300)
    shown = service.show_job(name)
    rows = Path(record.output_file).read_text().splitlines() if record.output_file else []
    return shown, rows


def shipped_bytes(service: BatchService, name: str) -> dict[str, int]:
    overview = Path(service.job_record(name).job_folder, "logs",
                    "job_progress_overview.txt").read_text()
    line = next(line for line in overview.splitlines() if "shipped to remote workers" in line)
    sizes = {role: int(size) for role, size in
             re.findall(r"(\w+)(?: [0-9a-f]{12})?: (\d+) bytes", line)}
    print(f"{name}: {line.split(' ', 2)[2]}")  # the closing note quotes these
    return sizes


def test_the_seed_deployment_scores_local_inputs_on_a_worker_without_the_home(hidden, service):
    service.create_endpoint(file=str(SEED / "batch-endpoint.yml"))
    service.create_deployment(SEED / "nonmlflow-deployment.yml", set_default=True)
    inputs = copy_inputs(hidden, "mnist", SEED / "mnist" / "data", 12)
    first, rows = run(service, "mybatchedp", inputs)
    assert first["status"] == "Completed", first.get("error")
    assert sorted(row.split(":")[0] for row in rows) == sorted(p.name for p in inputs.iterdir())
    sizes = shipped_bytes(service, first["name"])
    assert sizes["inputs"] == sum(p.stat().st_size for p in inputs.iterdir())
    logs = Path(service.job_record(first["name"]).job_folder, "logs", "user", "stdout")
    assert any(logs.rglob("*.stdout.txt")), "the worker's logs came back"
    bundles = hidden.fetched()
    assert sorted(role for role, _ in bundles) == ["code", "model"]

    second, rows = run(service, "mybatchedp", inputs)
    assert second["status"] == "Completed" and len(rows) == 12
    assert hidden.fetched() == bundles  # the same code and model: not fetched again
    assert "already on the scheduler" in Path(service.job_record(second["name"]).job_folder,
                                              "logs", "job_progress_overview.txt").read_text()
    # the worker kept nothing of the finished jobs but its bundle cache
    assert not any((hidden.cache / "jobs").iterdir())


def test_an_mlflow_model_is_scored_on_the_hidden_worker(hidden, service, tmp_path):
    pytest.importorskip("mlflow", reason="MLflow models need the 'mlflow' extra")
    pytest.importorskip("sklearn", reason="the heart model is trained with scikit-learn")
    model = tmp_path / "heart-model"
    subprocess.run([sys.executable, str(SEED / "heart" / "train.py"), str(model)], check=True,
                   capture_output=True)
    service.create_model(name="heart-classifier", type="mlflow_model", path=str(model))
    service.create_endpoint(name="heart-ep")
    service.create_deployment(SEED / "heart" / "deployment.yml", set_default=True)
    inputs = copy_inputs(hidden, "heart", SEED / "heart" / "data", 5)
    shown, rows = run(service, "heart-ep", inputs)
    assert shown["status"] == "Completed", shown.get("error")
    patients = sum(len(p.read_text().splitlines()) - 1 for p in inputs.iterdir())
    assert len(rows) == patients  # a row per patient, each naming its file
    assert shipped_bytes(service, shown["name"])["inputs"] > 0


def write_scorer(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.py").write_text(
        "import os\n\ndef init():\n    pass\n\n\ndef run(mini_batch):\n" + body)
    return folder


def test_changed_code_runs_new_and_model_versions_stay_apart(hidden, service, tmp_path):
    code = write_scorer(tmp_path / "code", "    print('scored by v1', flush=True)\n"
                                           "    return ['v1 ' + os.path.basename(p) "
                                           "for p in mini_batch]\n")
    lister = write_scorer(tmp_path / "lister", (
        "    root = os.environ['AZUREML_MODEL_DIR']\n"
        "    seen = sorted(os.path.relpath(os.path.join(d, f), root)\n"
        "                  for d, _, names in os.walk(root) for f in names)\n"
        "    return [' '.join(seen) for _ in mini_batch]\n"))
    for version, content in (("1", "first"), ("2", "second")):
        folder = tmp_path / f"model-{version}"
        folder.mkdir()
        (folder / f"weights-{content}.txt").write_text(content)
        service.create_model(name="versions", version=version, path=str(folder))
    service.create_endpoint(name="changes")

    def deploy(name: str, code_folder: Path, model: str) -> None:
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump({
            "name": name, "endpoint_name": "changes", "type": "model", "model": model,
            "code_configuration": {"code": str(code_folder), "scoring_script": "score.py"},
            "compute": "azureml:batch-cluster", "settings": {"mini_batch_size": 2}}))
        service.create_deployment(path)

    inputs = copy_inputs(hidden, "few", SEED / "mnist" / "data", 3)
    deploy("coded", code, "azureml:versions:1")
    shown, rows = run(service, "changes", inputs, deployment_name="coded")
    assert {row.split()[0] for row in rows} == {"v1"}
    assert shipped_bytes(service, shown["name"])["back"] > 0
    stdout = Path(service.job_record(shown["name"]).job_folder, "logs", "user", "stdout")
    assert "scored by v1" in "".join(p.read_text() for p in stdout.rglob("*.txt"))
    (code / "score.py").write_text(
        (code / "score.py").read_text().replace("v1", "v2"))
    deploy("coded", code, "azureml:versions:1")  # the changed folder: a new code version
    _, rows = run(service, "changes", inputs, deployment_name="coded")
    assert {row.split()[0] for row in rows} == {"v2"}, "the worker ran a stale copy"

    deploy("model-one", lister, "azureml:versions:1")
    deploy("model-two", lister, "azureml:versions:2")
    _, one = run(service, "changes", inputs, deployment_name="model-one")
    _, two = run(service, "changes", inputs, deployment_name="model-two")
    assert all("weights-first.txt" in row and "second" not in row for row in one), one
    assert all("weights-second.txt" in row and "first" not in row for row in two), two
    digests = [digest for _, digest in hidden.fetched()]
    assert len(digests) == len(set(digests)), "a version was fetched twice"



def test_an_isolated_environment_is_built_by_the_worker(hidden, service, tmp_path,
                                                        monkeypatch):
    """The job sends the environment's specification; the worker builds the venv in its own
    cache (this machine builds nothing) and scores in it."""
    monkeypatch.setenv("BATCH_EMULATOR_ENVIRONMENT_MODE", "isolated")
    conda = tmp_path / "conda.yml"
    conda.write_text(yaml.safe_dump({"name": "env", "dependencies": [
        "pip", {"pip": ["six==1.15.0"]}]}))
    path = tmp_path / "isolated.yml"
    path.write_text(yaml.safe_dump({
        "name": "isolated", "endpoint_name": "isolated-ep", "type": "model",
        "model": {"path": str(SEED / "mnist" / "model")}, "compute": "azureml:batch-cluster",
        "code_configuration": {"code": str(SCORING), "scoring_script": "six_version.py"},
        "environment": {"conda_file": str(conda),
                        "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"}}))
    service.create_endpoint(name="isolated-ep")
    service.create_deployment(path, set_default=True)
    shown, rows = run(service, "isolated-ep", copy_inputs(hidden, "six", SEED / "mnist" / "data",
                                                          2))
    assert shown["status"] == "Completed", shown.get("error")
    versions = {tuple(row.split()) for row in rows}
    assert len(versions) == 1
    version, prefix = versions.pop()
    assert version == "1.15.0" and Path(prefix).parent == hidden.cache / "environments"
    assert not (hidden.home / "environments").exists()
