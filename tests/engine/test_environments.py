"""SPEC §8: requirement checks in the default mode, isolated uv environments on request."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from emulator.engine import environments
from emulator.engine.environments import EnvironmentSpec, apply_overrides, check, from_conda_file
from tests.helpers import run_cli

CLICK = metadata.version("click")  # a dependency of the emulator: always installed
try:
    SIX = metadata.version("six")  # isolated environments pin another six (or bring one)
except metadata.PackageNotFoundError:
    SIX = None


def conda_file(tmp_path: Path, pip: list[str], conda: list[str] = (), name="conda.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"name": "env", "channels": ["conda-forge"],
                                    "dependencies": [*conda, "pip", {"pip": pip}]}))
    return path


def test_conda_file_is_read_into_pip_conda_and_python(tmp_path):
    spec = from_conda_file(conda_file(tmp_path, ["six==1.15.0", "pandas>=1"],
                                      ["python=3.8.5", "conda-forge::cudatoolkit=11.2"]))
    assert spec.pip == ("six==1.15.0", "pandas>=1")
    assert spec.python == "3.8.5"
    assert spec.conda == ("cudatoolkit=11.2",)


def test_overrides_replace_by_package_name_and_add_the_rest():
    assert apply_overrides(["scikit-learn==1.1.2", "pandas"], ["scikit_learn==1.1.3", "numpy<2"]) \
        == ["scikit_learn==1.1.3", "pandas", "numpy<2"]


def test_check_reports_each_unmet_or_conflicting_requirement():
    spec = EnvironmentSpec(pip=("click==0.1", "no-such-package-for-the-emulator", "pyyaml",
                                "colorama; python_version < '3'"),
                           conda=("cudatoolkit=11.2",), python="2.7", source="conda.yml")
    problems = check(spec)
    assert problems == [
        f"conda.yml asks for python 2.7; scoring processes run Python {platform.python_version()} "
        "(the emulator does not install other Pythons)",
        f"requirement click==0.1 conflicts with the installed click {CLICK}",
        f"requirement no-such-package-for-the-emulator is not installed in "
        f"{environments.sys.executable}",
        "conda package cudatoolkit=11.2 from conda.yml is conda-only here: the emulator installs "
        "pip packages only; add a pip equivalent to the requirements overrides if the script "
        "needs it",
    ]
    assert check(EnvironmentSpec(pip=(f"click=={CLICK}",), python=platform.python_version())) \
        == []


def test_the_default_mode_warns_but_runs_the_job(tmp_path, make_deployment, make_inputs,
                                                 run_job):
    deployment = make_deployment("succeed_list.py")
    document = yaml.safe_load(deployment.read_text())
    document["environment"] = {"conda_file": str(conda_file(tmp_path, ["click==0.1"])),
                               "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"}
    deployment.write_text(yaml.safe_dump(document))
    job = run_job(deployment, make_inputs(2))
    assert job.status == "Completed"
    expected = f"requirement check: requirement click==0.1 conflicts with the installed click {CLICK}"
    assert expected in job.notices
    overview = (Path(job.job_folder) / "logs" / "job_progress_overview.txt").read_text()
    assert f"notice: {expected}" in overview


def test_invoke_prints_the_requirement_check_on_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
    seed = Path(__file__).resolve().parents[2] / "examples"
    run_cli("ml", "batch-endpoint", "create", "-n", "env-ep")
    deployment = tmp_path / "d.yml"
    document = yaml.safe_load((seed / "digits-v2-deployment.yml").read_text())
    document.update(endpoint_name="env-ep", model={"path": str(seed / "mnist" / "model")},
                    code_configuration={"code": str(seed / "mnist" / "code"),
                                        "scoring_script": "digit_identification.py"},
                    environment={"name": "needs-old-six", "image": "x",
                                 "conda_file": str(conda_file(tmp_path, ["click<1"]))})
    document.pop("compute")  # a compute must exist: none is a local cluster
    deployment.write_text(yaml.safe_dump(document))
    assert run_cli("ml", "batch-deployment", "create", "-f", str(deployment), "--set-default")[0] \
        == 0
    code, out, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "env-ep", "--input",
                             str(seed / "mnist" / "data"), "--query", "name", "-o", "tsv")
    assert code == 0
    assert f"WARNING: requirement check: requirement click<1 conflicts with the installed click " \
        f"{CLICK}" in err
    assert run_cli("ml", "job", "stream", "-n", out.strip())[0] == 0  # a warning, not a failure


# ------------------------------------------------------------------------------ isolated


@pytest.fixture
def isolated(monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_ENVIRONMENT_MODE", "isolated")


def six_deployment(make_deployment, tmp_path, pins: list[str]) -> Path:
    deployment = make_deployment("six_version.py")
    document = yaml.safe_load(deployment.read_text())
    document["environment"] = {"conda_file": str(conda_file(tmp_path, pins, name=f"{pins}.yml")),
                               "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"}
    deployment.write_text(yaml.safe_dump(document))
    return deployment


def overview(job) -> str:
    return (Path(job.job_folder) / "logs" / "job_progress_overview.txt").read_text()


@pytest.mark.slow
def test_isolated_environment_is_built_once_and_reused(isolated, make_deployment, make_inputs,
                                                       run_job, home, tmp_path):
    assert SIX != "1.15.0"
    deployment = six_deployment(make_deployment, tmp_path, ["six==1.15.0"])
    inputs = make_inputs(2)
    first = run_job(deployment, inputs)
    assert first.status == "Completed", first.error
    version, prefix = Path(first.output_file).read_text().splitlines()[0].split()
    assert version == "1.15.0"  # really ran in the environment, not in this interpreter
    assert Path(prefix).parent == home / "environments"
    assert "building with uv (1 requirement(s))" in overview(first)

    second = run_job(deployment, inputs, output_path=tmp_path / "second")
    assert Path(second.output_file).read_text().splitlines()[0] == f"1.15.0 {prefix}"
    assert "building" not in overview(second)


@pytest.mark.slow
def test_overrides_file_pins_and_adds_requirements(isolated, make_deployment, make_inputs,
                                                   run_job, home, tmp_path, monkeypatch):
    overrides = tmp_path / "overrides.txt"
    overrides.write_text("# pins for this machine\nsix==1.14.0\nsix-extra-line-ignored; "
                         "python_version < '3'\n")
    monkeypatch.setenv("BATCH_EMULATOR_REQUIREMENTS_OVERRIDES", str(overrides))
    job = run_job(six_deployment(make_deployment, tmp_path, ["six==1.16.0"]), make_inputs(1))
    assert job.status == "Completed", job.error
    assert Path(job.output_file).read_text().split()[0] == "1.14.0"
    ready = json.loads(next((home / "environments").glob("*/ready")).read_text())
    assert ready == ["six==1.14.0", "six-extra-line-ignored; python_version < '3'"]


@pytest.mark.slow
def test_a_broken_requirement_names_it_and_shows_the_resolvers_message(
        isolated, make_deployment, make_inputs, run_job, tmp_path):
    missing = "batch-emulator-no-such-package==1.0"
    job = run_job(six_deployment(make_deployment, tmp_path, ["six", missing]), make_inputs(1))
    assert job.status == "Failed"
    assert job.error.startswith(f"cannot build the isolated environment: requirement {missing} "
                                "could not be installed")
    assert "requirements overrides" in job.error
    assert "batch-emulator-no-such-package" in job.error_detail  # uv's own words
    assert not any((Path(job.job_folder).parents[2] / "environments").glob("*/ready"))


@pytest.mark.slow
def test_concurrent_jobs_needing_one_environment_build_it_once(
        isolated, make_deployment, make_inputs, start_job, tmp_path):
    deployment = six_deployment(make_deployment, tmp_path, ["six==1.13.0"])
    inputs = make_inputs(1)
    jobs = [start_job(deployment, inputs, output_path=tmp_path / f"out-{i}") for i in range(2)]
    records = [job.wait(300) for job in jobs]
    assert [r.status for r in records] == ["Completed", "Completed"], [r.error for r in records]
    logs = [overview(r) for r in records]
    assert sum("building with uv" in log for log in logs) == 1
    assert sum("built by another job meanwhile" in log for log in logs) <= 1
    prefixes = {Path(r.output_file).read_text().split()[1] for r in records}
    assert len(prefixes) == 1


# ------------------------------------------------------------------------------ packaging


def test_mlflow_skinny_satisfies_an_mlflow_requirement(tmp_path):
    """The [mlflow] extra installs mlflow-skinny; an MLflow model's own requirements.txt asks
    for mlflow: no "not installed" notice for it."""
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("mlflow")  # this test is about an install without the full mlflow
    skinny = metadata.version("mlflow-skinny")
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {python_function: {}}\n")
    (model / "requirements.txt").write_text(f"mlflow=={skinny}\ncloudpickle\n")
    spec = environments.spec_for(tmp_path / "home", mlflow_model=model)
    assert check(spec) == []
    assert check(EnvironmentSpec(pip=("mlflow<1",), source="requirements.txt")) == [
        f"requirement mlflow<1 conflicts with the installed mlflow {skinny}"]


def test_isolated_mode_without_uv_fails_the_job_with_one_line_naming_the_extra(
        isolated, make_deployment, make_inputs, run_job, tmp_path, monkeypatch, home):
    """uv is the 'isolated' extra, not a core dependency: an install without it (no uv
    module, no uv on PATH) is told what to install."""
    monkeypatch.setitem(sys.modules, "uv", None)  # as if the uv wheel were not installed
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    job = run_job(six_deployment(make_deployment, tmp_path, ["six==1.15.0"]), make_inputs(1))
    assert job.status == "Failed"
    assert job.error == ("environment_mode=isolated needs uv, which is not installed: pip install "
                         "'batch-endpoint-emulator[isolated]' (or put uv on PATH), or use "
                         "environment_mode=current")
    assert "building" not in overview(job)
    assert not (home / "environments").exists()


def test_the_core_install_does_not_depend_on_uv():
    requirements = metadata.requires("batch-endpoint-emulator") or []
    core = [line for line in requirements if "extra ==" not in line]
    assert not [line for line in core if line.startswith("uv")]
    assert any(line.startswith("uv") and 'extra == "isolated"' in line for line in requirements)
