"""One job registry: however a job is started (the Python API, ``run``, ``demo``, the pytest
plugin's emulator, ``invoke``), ``job list`` and ``job show`` of its home see it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator import run_batch_job
from emulator.testing import BatchEmulator
from tests.helpers import run_cli

USER_REPO = Path(__file__).resolve().parents[2] / "fixtures" / "user-repo"


def listed(home: Path, *options: str) -> dict[str, dict]:
    code, out, err = run_cli("ml", "job", "list", *options,
                             env={"BATCH_EMULATOR_HOME": str(home)})
    assert code == 0, err
    return {job["name"]: job for job in json.loads(out)}


def started_by_the_python_api(home: Path, scheduler: str) -> str:
    return run_batch_job(USER_REPO / "deployment.yml", USER_REPO / "data", home=home,
                         scheduler_address=scheduler, timeout=120).name


def started_by_run(home: Path, scheduler: str) -> str:
    code, out, err = run_cli("run", "-f", str(USER_REPO / "deployment.yml"), "-i",
                             str(USER_REPO / "data"), "--scheduler-address", scheduler,
                             env={"BATCH_EMULATOR_HOME": str(home)})
    assert code == 0, err
    return json.loads(out)["name"]


def started_by_the_plugins_emulator(home: Path, scheduler: str) -> str:
    emulator = BatchEmulator(home=home, scheduler_address=scheduler,
                             default_deployment=USER_REPO / "deployment.yml")
    emulator.deploy()
    return emulator.invoke(USER_REPO / "data").assert_all_succeeded().name


@pytest.mark.parametrize("start", [started_by_the_python_api, started_by_run,
                                   started_by_the_plugins_emulator],
                         ids=["python-api", "run", "pytest-plugin"])
def test_every_job_is_in_the_workspace_store(start, tmp_path, dask_scheduler_address):
    home = tmp_path / "home"
    name = start(home, dask_scheduler_address)
    jobs = listed(home)
    assert list(jobs) == [name]
    assert jobs[name]["status"] == "Completed"
    assert jobs[name]["properties"]["files_succeeded"] == "5"
    code, out, _ = run_cli("ml", "job", "show", "-n", name, "--query", "status", "-o", "tsv",
                           env={"BATCH_EMULATOR_HOME": str(home)})
    assert (code, out) == (0, "Completed\n")


@pytest.mark.slow
def test_the_demo_job_is_listed_in_the_homes_demo_workspace(tmp_path):
    home = tmp_path / "home"  # BATCH_EMULATOR_HOME, as a user sets it: no temporary folder
    code, out, err = run_cli("demo", env={"BATCH_EMULATOR_HOME": str(home)})
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    jobs = listed(home, "-w", "demo")
    assert len(jobs) == 1
    (name, job), = jobs.items()
    assert job["status"] == "Completed" and f"--name {name}" in out
    assert job["properties"]["files_succeeded"] == job["properties"]["files_total"] == "12"
