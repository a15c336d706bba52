"""Failure reports name the user's own files: a deployment's code is copied into the home at
registration, but the tracebacks recorded for run() and init() point at the folder it came
from (the job record, ``error_detail``, ``logs/user/error/``, the plugin's report)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from emulator.jobs.record import JobRecord
from emulator.service import BatchService
from emulator.testing.harness import BatchEmulator
from tests.helpers import MODEL, wait_for

RAISES_IN_RUN = (
    "from helpers import check\n"
    "\n"
    "def run(mini_batch):\n"
    "    for path in mini_batch:\n"
    "        check(path)\n"
    "    return mini_batch\n"
)
HELPER = "def check(path):\n    raise ValueError('bad file ' + path)\n"
RAISES_IN_INIT = "def init():\n    raise RuntimeError('no model here')\n\ndef run(b):\n    return b\n"


def user_project(tmp_path: Path, script: str) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "score.py").write_text(script, encoding="utf-8")
    (root / "src" / "helpers.py").write_text(HELPER, encoding="utf-8")
    (root / "deployment.yml").write_text(yaml.safe_dump({
        "name": "dep-one", "endpoint_name": "ep-one", "type": "model",
        "model": {"path": str(MODEL)},
        "code_configuration": {"code": "src", "scoring_script": "score.py"},
        "settings": {"mini_batch_size": 1, "max_concurrency_per_instance": 1,
                     "retry_settings": {"max_retries": 0, "timeout": 30}},
    }), encoding="utf-8")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.txt").write_text("a\n")
    return root


@pytest.fixture(scope="module")
def threads_scheduler_address():
    """A cluster of threads, as the plugin's ``--batch-emulator-cluster=inprocess`` uses."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                           dashboard_address="127.0.0.1:0", memory_limit=0,
                           silence_logs=logging.ERROR)
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(params=["processes", "inprocess"])
def emulator(request, tmp_path, dask_scheduler_address) -> BatchEmulator:
    if request.param == "inprocess":
        address = request.getfixturevalue("threads_scheduler_address")
        return BatchEmulator(home=tmp_path / "home", in_process=True, scheduler_address=address)
    return BatchEmulator(home=tmp_path / "home", scheduler_address=dask_scheduler_address)


def error_logs(record: JobRecord) -> str:
    folder = Path(record.job_folder) / "logs" / "user" / "error"
    return "".join(p.read_text() for p in sorted(folder.rglob("*.txt")))


def test_a_run_failure_names_the_users_files_not_the_copy_in_the_home(tmp_path, emulator):
    root = user_project(tmp_path, RAISES_IN_RUN)
    source = root.resolve() / "src"
    emulator.deploy(root / "deployment.yml")
    result = emulator.invoke(tmp_path / "inputs")
    failure = result.record.failed_mini_batches[0]
    for text in (failure.traceback, error_logs(result.record), result.describe()):
        assert f'File "{source}/score.py", line 5, in run' in text
        assert f'File "{source}/helpers.py", line 2, in check' in text
        assert str(emulator.home) not in text.replace(f"logs: {result.logs}", "")


def test_an_init_failure_names_the_users_file(tmp_path, emulator):
    root = user_project(tmp_path, RAISES_IN_INIT)
    emulator.deploy(root / "deployment.yml")
    result = emulator.invoke(tmp_path / "inputs")
    assert result.status == "Failed"
    shown = f'File "{root.resolve()}/src/score.py", line 2, in init'
    assert shown in result.record.error_detail
    assert shown in error_logs(result.record)
    assert "codes/" not in result.record.error_detail


def test_a_job_through_the_service_maps_paths_in_its_runner_process(tmp_path,
                                                                    dask_scheduler_address):
    """``invoke`` from the CLI or REST: the job runs in a runner process of its own."""
    root = user_project(tmp_path, RAISES_IN_RUN)
    service = BatchService(home=tmp_path / "home")
    service.create_compute(name="cluster", type="dask",
                           scheduler_address=dask_scheduler_address)
    service.create_endpoint(name="ep-one")
    service.create_deployment(str(root / "deployment.yml"), set_values=["compute=azureml:cluster"],
                              set_default=True)
    document = service.invoke("ep-one", input=str(tmp_path / "inputs"))
    record = wait_for(lambda: (lambda r: r if r.is_terminal else None)(
        JobRecord.load(document["properties"]["job_folder"])), 120, "the job to end")
    assert f'File "{root.resolve()}/src/score.py", line 5, in run' in \
        record.failed_mini_batches[0].traceback
