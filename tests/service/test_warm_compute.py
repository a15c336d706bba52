"""Warm computes: an amlcompute's Dask cluster kept by one host process per compute, which
carries the jobs invoked on it. Met where users meet it: invoke through the CLI (the REST
front and the SDK call the same service method), compute start/stop/delete/list-nodes
through the Python service, the CLI and REST alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from emulator.exceptions import ConflictError
from emulator.service import BatchService
from emulator.workspace.auth import MANAGEMENT_RESOURCE, issue_token
from tests.helpers import MODEL, SCORING, process_gone, run_cli, start_server, stop_server, wait_for

pytestmark = pytest.mark.slow
WS = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
      "Microsoft.MachineLearningServices/workspaces/default")
COMPUTE = "warm-cluster"
ENDPOINT = "warm-endpoint"


class Home:
    """A home with an endpoint whose default deployment runs on ``COMPUTE``."""

    def __init__(self, path: Path, trace_dir: Path):
        self.path, self.trace_dir = path, trace_dir

    def cli(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        code, out, err = run_cli(*args, env={"BATCH_EMULATOR_HOME": str(self.path)})
        assert code == 0 or not check, f"batch-emulator {' '.join(args)}: {out}{err}"
        return code, out, err

    def json(self, *args: str):
        return json.loads(self.cli(*args, "-o", "json")[1])

    def create_compute(self, *options: str) -> None:
        self.cli("ml", "compute", "create", "-n", COMPUTE, "--type", "amlcompute", *options,
                 "-o", "none")

    def deploy(self, script: str = "succeed_list.py", instance_count: int = 1,
               **environment: str) -> None:
        document = {
            "name": "warm", "endpoint_name": ENDPOINT, "type": "model",
            "model": {"path": str(MODEL)}, "compute": f"azureml:{COMPUTE}",
            "code_configuration": {"code": str(SCORING), "scoring_script": script},
            "resources": {"instance_count": instance_count},
            "settings": {"mini_batch_size": 1, "environment_variables": {
                "TRACE_DIR": str(self.trace_dir), **environment}}}
        path = self.path.parent / f"{script}-{instance_count}.yml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        if self.cli("ml", "batch-endpoint", "show", "-n", ENDPOINT, check=False)[0]:
            self.cli("ml", "batch-endpoint", "create", "-n", ENDPOINT, "-o", "none")
        self.cli("ml", "batch-deployment", "create", "--file", str(path), "--set-default",
                 "-o", "none")

    def invoke(self, inputs: Path, stream: bool = False) -> str:
        job = self.cli("ml", "batch-endpoint", "invoke", "-n", ENDPOINT, "--input",
                       str(inputs), "--query", "name", "-o", "tsv")[1].strip()
        if stream:
            self.cli("ml", "job", "stream", "-n", job)
        return job

    def status(self, job: str) -> str:
        return self.cli("ml", "job", "show", "-n", job, "--query", "status", "-o", "tsv")[
            1].strip()

    def wait_status(self, job: str, wanted: set[str], timeout: float = 120) -> str:
        return wait_for(lambda: self.status(job) in wanted and self.status(job), timeout,
                        f"job {job} to be {' or '.join(sorted(wanted))}")

    def host_record(self) -> dict | None:
        path = self.path / "default" / "computes" / COMPUTE / "host.json"
        return json.loads(path.read_text()) if path.exists() else None

    def nodes(self) -> list[dict]:
        return self.json("ml", "compute", "list-nodes", "-n", COMPUTE)


@pytest.fixture
def warm(tmp_path, trace_dir) -> Iterator[Home]:
    home = Home(tmp_path / "home", trace_dir)
    home.path.mkdir()
    try:
        yield home
    finally:  # no host outlives its test
        record = home.host_record()
        if record is not None:
            BatchService(home=home.path).stop_compute(COMPUTE, cancel_jobs=True)
            wait_for(lambda: process_gone(record["pid"]), 30, "the host to end")


def test_jobs_on_a_warm_compute_run_on_its_running_workers(warm, make_inputs):
    warm.create_compute("--min-instances", "1", "--max-instances", "2")
    warm.deploy()
    assert warm.json("ml", "compute", "show", "-n", COMPUTE)["state"] == "Stopped"
    inputs = make_inputs(4)
    first = warm.invoke(inputs, stream=True)  # the first job starts the compute
    host = warm.host_record()
    assert host is not None
    nodes = warm.nodes()
    assert [node["node_state"] for node in nodes] == ["idle"]  # min_instances stay warm
    second = warm.invoke(inputs, stream=True)
    for job in (first, second):
        shown = warm.json("ml", "job", "show", "-n", job)
        assert shown["status"] == "Completed"
        assert shown["properties"]["files_succeeded"] == "4"
        output = Path(shown["properties"]["output_file"])
        assert sorted(line.split(":")[0] for line in output.read_text().splitlines()) == \
            [f"f{i:03d}.txt" for i in range(4)]
    assert warm.host_record()["pid"] == host["pid"]  # one host carried both
    assert warm.nodes() == nodes  # on the same worker, idle again
    inits = (warm.trace_dir / "inits.txt").read_text().split()
    assert len(inits) == 2 and len(set(inits)) == 2  # each job its own scoring process, init()
    state = warm.json("ml", "compute", "show", "-n", COMPUTE)
    assert state["state"] == "Running" and state["dashboard_link"].startswith("http://127.0.0.1:")
    runner_log = (warm.path / "default" / "jobs" / second / "runner.log").read_text()
    assert f"carried by the host of compute {COMPUTE} (pid {host['pid']})" in runner_log


def test_min_instances_zero_keeps_a_cluster_per_job(warm, make_inputs):
    warm.create_compute("--max-instances", "2")
    warm.deploy()
    job = warm.invoke(make_inputs(2), stream=True)
    assert warm.status(job) == "Completed"
    assert warm.host_record() is None
    assert warm.json("ml", "compute", "show", "-n", COMPUTE)["state"] == "Stopped"


def test_a_job_gets_its_workers_and_they_go_after_the_idle_time(warm, make_inputs):
    warm.create_compute("--max-instances", "2", "--idle-time-before-scale-down", "1")
    warm.deploy("slow_list.py", instance_count=2, SLOW_SECONDS="0.3")
    assert warm.json("ml", "compute", "start", "-n", COMPUTE)["state"] == "Running"
    assert warm.nodes() == []  # min_instances 0: no worker until a job asks
    job = warm.invoke(make_inputs(12))
    running = wait_for(lambda: [n for n in warm.nodes() if n["node_state"] == "running"]
                       if len(warm.nodes()) == 2 else None, 60, "two workers for the job")
    assert {node["run_id"] for node in running} == {job}
    warm.wait_status(job, {"Completed"})
    wait_for(lambda: warm.nodes() == [], 60, "the idle workers to be scaled down")


def test_cancel_on_a_warm_compute_leaves_the_compute_running(warm, make_inputs):
    warm.create_compute("--min-instances", "1", "--max-instances", "1")
    warm.deploy("slow_list.py", SLOW_SECONDS="0.5")
    job = warm.invoke(make_inputs(20))
    warm.wait_status(job, {"Running"})
    warm.cli("ml", "job", "cancel", "-n", job)
    warm.wait_status(job, {"Canceled"})
    wait_for(lambda: [n["node_state"] for n in warm.nodes()] == ["idle"], 30,
             "the worker to be free")
    assert not (warm.path / "default" / "jobs" / job / ".partial").exists()


def test_queued_jobs_wait_for_a_runner_slot_on_the_host(warm, make_inputs, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_MAX_RUNNING_JOBS", "1")  # the host inherits it
    warm.create_compute("--min-instances", "2", "--max-instances", "2")
    warm.deploy("slow_list.py", SLOW_SECONDS="0.3")
    first = warm.invoke(make_inputs(4, name="one"))
    second = warm.invoke(make_inputs(4, name="two"))
    warm.wait_status(first, {"Running"})
    assert warm.status(second) == "Queued"
    warm.wait_status(first, {"Completed"})
    warm.wait_status(second, {"Completed"})


def test_a_killed_host_fails_its_job_and_the_next_job_restarts_it(warm, make_inputs):
    warm.create_compute("--min-instances", "1", "--max-instances", "1")
    warm.deploy("slow_list.py", SLOW_SECONDS="0.5")
    job = warm.invoke(make_inputs(20))
    warm.wait_status(job, {"Running"})
    killed = warm.host_record()["pid"]
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: process_gone(killed), 30, "the host to die")
    assert warm.wait_status(job, {"Failed"}, 30) == "Failed"  # never Running forever
    shown = warm.json("ml", "job", "show", "-n", job)
    assert "ended without finishing the job" in json.dumps(shown)
    assert warm.json("ml", "compute", "show", "-n", COMPUTE)["state"] == "Stopped"
    warm.deploy()
    again = warm.invoke(make_inputs(2, name="again"), stream=True)
    assert warm.status(again) == "Completed"
    assert warm.host_record()["pid"] != killed


def test_racing_starts_start_one_host(warm):
    warm.create_compute("--max-instances", "1")
    env = {**os.environ, "BATCH_EMULATOR_HOME": str(warm.path)}
    racers = [subprocess.Popen([sys.executable, "-m", "emulator", "ml", "compute", "start",
                                "-n", COMPUTE, "-o", "none"], env=env,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for racer in racers:
        _, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
    assert len(_hosts_of(warm.path)) == 1
    log = (warm.path / "default" / "computes" / COMPUTE / "host.log").read_text()
    assert log.count("scheduler tcp://") == 1


def _hosts_of(home: Path) -> list[int]:
    """The live host processes of a home, found by their command lines."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"emulator.jobs.host_process" in command and str(home).encode() in command \
                and not process_gone(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_a_host_takes_new_bounds_at_once(warm):
    warm.create_compute("--min-instances", "1", "--max-instances", "3")
    warm.cli("ml", "compute", "start", "-n", COMPUTE, "-o", "none")
    wait_for(lambda: len(warm.nodes()) == 1, 60, "one warm worker")
    warm.create_compute("--min-instances", "2", "--max-instances", "3")
    wait_for(lambda: len(warm.nodes()) == 2, 60, "two warm workers")


def test_start_refuses_a_compute_that_is_not_an_amlcompute(warm):
    warm.cli("ml", "compute", "create", "-n", "dask-one", "--type", "dask", "--set",
             "scheduler_address=tcp://127.0.0.1:1", "-o", "none")
    code, _, err = warm.cli("ml", "compute", "start", "-n", "dask-one", check=False)
    assert code != 0
    assert "compute dask-one is a dask compute; only an amlcompute has a cluster the " \
           "emulator can start" in err


# ------------------------------------------------------- deleting or stopping a busy compute


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("warm-rest") / "home"
    url, process = start_server(home)
    yield home, url
    stop_server(process)


def _refusal(front: str, home: Path, url: str | None, verb: str) -> tuple[bool, str]:
    """Ask to stop or delete the busy compute without --yes: (refused as a conflict, why)."""
    if front == "python":
        service = BatchService(home=home)
        try:
            service.delete_compute(COMPUTE) if verb == "delete" else \
                service.stop_compute(COMPUTE)
        except ConflictError as exc:
            return True, str(exc)
        return False, ""
    if front == "cli":
        code, out, err = run_cli("ml", "compute", verb, "-n", COMPUTE,
                                 env={"BATCH_EMULATOR_HOME": str(home)})
        return code == ConflictError.exit_code, out + err
    token = issue_token(home, MANAGEMENT_RESOURCE)["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    path = f"{url}{WS}/computes/{COMPUTE}"
    answer = httpx.delete(path, headers=headers, timeout=60) if verb == "delete" else \
        httpx.post(f"{path}/stop", headers=headers, timeout=60)
    return answer.status_code == 409, answer.text


@pytest.mark.parametrize("verb", ["delete", "stop"])
@pytest.mark.parametrize("front", ["python", "cli", "rest"])
def test_a_busy_compute_is_stopped_or_deleted_only_with_yes(front, verb, request, tmp_path,
                                                            trace_dir, make_inputs):
    if front == "rest":
        home_path, url = request.getfixturevalue("server")
        home_path.mkdir(exist_ok=True)
    else:
        home_path, url = tmp_path / "home", None
        home_path.mkdir()
    home = Home(home_path, trace_dir)
    home.create_compute("--min-instances", "1", "--max-instances", "1")
    home.deploy("slow_list.py", SLOW_SECONDS="0.5")
    job = home.invoke(make_inputs(20))
    try:
        home.wait_status(job, {"Running"})
        refused, why = _refusal(front, home.path, url, verb)
        assert refused, why
        assert f"compute {COMPUTE} has 1 running job(s) ({job}); cancel them first, or " \
               f"{verb} with --yes, which cancels them" in why
        assert home.status(job) == "Running"
        host = home.host_record()["pid"]
        _, _, err = home.cli("ml", "compute", verb, "-n", COMPUTE, "--yes")
        assert f"cancelled 1 job(s) on compute {COMPUTE}: {job}" in err
        assert home.status(job) == "Canceled"
        wait_for(lambda: process_gone(host), 30, "the host to end")
        computes = [c["name"] for c in home.json("ml", "compute", "list")]
        assert computes == ([] if verb == "delete" else [COMPUTE])
    finally:
        if home.host_record():
            BatchService(home=home.path).delete_compute(COMPUTE, cancel_jobs=True)


def test_rest_starts_stops_and_deletes_an_idle_compute(server, trace_dir):
    home_path, url = server
    home_path.mkdir(exist_ok=True)
    home = Home(home_path, trace_dir)
    home.create_compute("--min-instances", "1", "--max-instances", "1")
    token = issue_token(home.path, MANAGEMENT_RESOURCE)["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    path = f"{url}{WS}/computes/{COMPUTE}"
    assert httpx.post(f"{path}/start", headers=headers, timeout=120).status_code == 202
    host = home.host_record()["pid"]
    assert home.json("ml", "compute", "show", "-n", COMPUTE)["state"] == "Running"
    assert httpx.post(f"{path}/stop", headers=headers, timeout=120).status_code == 202
    assert home.host_record() is None
    wait_for(lambda: process_gone(host), 30, "the host to end")
    assert httpx.post(f"{path}/start", headers=headers, timeout=120).status_code == 202
    host = home.host_record()["pid"]
    assert httpx.delete(path, headers=headers, timeout=120).status_code == 200
    wait_for(lambda: process_gone(host), 30, "the host to end")
    assert httpx.get(path, headers=headers, timeout=60).status_code == 404
