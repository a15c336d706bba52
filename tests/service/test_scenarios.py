"""SPEC §6 (execution semantics) through the three front ends, with one set of assertions.

Each scenario runs once per front, the ``front`` fixture:

- ``python``: ``emulator.run_batch_job`` on the session's Dask cluster;
- ``cli``: ``batch-emulator ml compute|batch-endpoint|batch-deployment create``, then
  ``batch-endpoint invoke`` (the job runs in a runner process of its own), followed with
  ``ml job show`` until it ends;
- ``rest``: a ``batch-emulator serve`` process; endpoint and deployment made with the CLI in its
  home, the job started with ``POST <scoring_uri>`` and followed with ``GET <scoring_uri>/<job>``.

Every front turns its answer into the same ``Outcome`` (or raises the same ``Refused``), so
each scenario asserts once, identically, whatever the front.
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import pid_alive, run_cli, trace_lines, wait_for

TERMINAL = ("Completed", "Failed", "Canceled")
JOB_TIMEOUT = 120  # seconds: the deadline of every job, as the root conftest's run_job
# The data plane spells properties.status as `job show` does (Azure's JobStatus enum); where it
# differs is properties.provisioningState, Azure's spelling of the end of a long operation.
REST_PROVISIONING = {"Completed": "Succeeded", "Failed": "Failed", "Canceled": "Canceled"}


# ----------------------------------------------------------------------------- the normal form


@dataclass(frozen=True)
class Outcome:
    """A finished job as any front reports it."""

    name: str
    status: str  # as `job show` spells it: Completed | Failed | Canceled
    total: int
    succeeded: int
    failed: int
    job_folder: Path
    output_folder: Path
    output_file: Path | None  # None when there is no results file (summary_only, failures)
    error: str | None  # None when the job has no error

    def rows(self) -> list[str]:
        assert self.output_file is not None, f"job {self.name} has no results file"
        return self.output_file.read_bytes().decode().splitlines(keepends=True)

    def report(self) -> dict[str, dict[str, str]]:
        """``logs/sys/job_report/processed_mini-batches.csv`` by mini-batch id."""
        path = self.job_folder / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
        with open(path, newline="") as file:
            return {row["Mini-batch Id"]: row for row in csv.DictReader(file)}


class Refused(Exception):
    """A front refused the job up front; ``code`` is Azure's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _path(value: Any) -> Path | None:
    return Path(value) if value else None


def from_show(document: dict) -> Outcome:
    """The normal form of a job document shaped like ``az ml job show`` (snake_case)."""
    properties = document["properties"]
    return Outcome(
        name=document["name"], status=document["status"],
        total=int(properties["files_total"]), succeeded=int(properties["files_succeeded"]),
        failed=int(properties["files_failed"]), job_folder=Path(properties["job_folder"]),
        output_folder=Path(properties["output_folder"]),
        output_file=_path(properties["output_file"]),
        error=(document.get("error") or {}).get("message") or None)


def shown(home: Path, name: str) -> Outcome:
    """The job as the workspace registry shows it (``ml job show``): SPEC §12 puts every job
    there, however it was started."""
    code, out, err = run_cli("ml", "job", "show", "--name", name,
                             env={"BATCH_EMULATOR_HOME": str(home)})
    assert code == 0, err
    return from_show(json.loads(out))


STARTED = ("NotStarted", "Queued", "Preparing", "Running", "Finalizing", *TERMINAL)


# ----------------------------------------------------------------------------- the three fronts


class PythonFront:
    """``emulator.run_batch_job`` in this process."""

    def __init__(self, home: Path, scheduler_address: str):
        self.home = home
        self.scheduler_address = scheduler_address

    def run(self, deployment: Path, inputs: Path, *, output_path: str | None = None,
            overrides: dict[str, Any] | None = None) -> Outcome:
        from emulator import run_batch_job
        from emulator.exceptions import OutputExistsError

        try:
            record = run_batch_job(deployment, inputs, home=self.home, timeout=JOB_TIMEOUT,
                                   scheduler_address=self.scheduler_address,
                                   output_path=output_path, overrides=overrides or {})
        except OutputExistsError as exc:
            raise Refused("OutputAlreadyExists", str(exc)) from exc
        outcome = Outcome(
            name=record.name, status=record.status, total=record.files_total,
            succeeded=record.files_succeeded, failed=record.files_failed,
            job_folder=Path(record.job_folder), output_folder=Path(record.output_folder),
            output_file=_path(record.output_file), error=record.error or None)
        assert shown(self.home, record.name) == outcome
        return outcome


class CliFront:
    """``batch-emulator`` in this process; the job itself runs in a runner process."""

    ENDPOINT = "scenario-ep"
    COMPUTE = "scenario-cluster"

    def __init__(self, home: Path, scheduler_address: str):
        self.home = home
        self.deployments = 0
        self.cli("ml", "compute", "create", "-n", self.COMPUTE, "--type", "dask", "--set",
                 f"scheduler_address={scheduler_address}")
        self.cli("ml", "batch-endpoint", "create", "--name", self.ENDPOINT)

    def az(self, *args: str) -> tuple[int, str, str]:
        return run_cli(*args, env={"BATCH_EMULATOR_HOME": str(self.home)})

    def cli(self, *args: str) -> str:
        code, out, err = self.az(*args)
        assert code == 0, f"batch-emulator {' '.join(args)} exited {code}: {err}"
        return out

    def deploy(self, deployment: Path) -> None:
        self.deployments += 1  # a new deployment per job, made the default
        self.cli("ml", "batch-deployment", "create", "--file", str(deployment), "--name",
                 f"dep-{self.deployments}", "--endpoint-name", self.ENDPOINT, "--set-default",
                 "--set", f"compute=azureml:{self.COMPUTE}")

    def run(self, deployment: Path, inputs: Path, *, output_path: str | None = None,
            overrides: dict[str, Any] | None = None) -> Outcome:
        self.deploy(deployment)
        args = ["ml", "batch-endpoint", "invoke", "--name", self.ENDPOINT, "--input", str(inputs)]
        if output_path is not None:
            args += ["--output-path", output_path]
        for key, value in (overrides or {}).items():
            args += ["--set", f"{key}={value}"]
        code, out, err = self.az(*args)
        if code != 0:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("ERROR: "), (code, err)
            message = lines[0].removeprefix("ERROR: ")
            raise Refused("OutputAlreadyExists" if code == 4 else f"exit code {code}", message)
        started = json.loads(out)
        assert started["status"] in STARTED

        def ended() -> dict | None:
            document = json.loads(self.cli("ml", "job", "show", "--name", started["name"]))
            return document if document["status"] in TERMINAL else None

        document = wait_for(ended, JOB_TIMEOUT, f"job {started['name']} to end")
        # `job stream` of an ended job: its summary, exit 0 only when it Completed
        code, out, err = self.az("ml", "job", "stream", "--name", started["name"])
        assert f"Status: {document['status']}" in out.splitlines()
        assert (code == 0) == (document["status"] == "Completed"), err
        return from_show(document)


class RestFront:
    """``POST <scoring_uri>`` / ``GET <scoring_uri>/<job>`` on a live ``serve``."""

    def __init__(self, server):
        import httpx

        from tests.service.conftest import COMPUTE

        self.server = server
        self.home = server.home
        self.compute = COMPUTE
        self.endpoint = f"ep-{uuid.uuid4().hex[:12]}"  # the server is shared by the module
        self.deployments = 0
        self.cli("ml", "batch-endpoint", "create", "--name", self.endpoint)
        self.scoring_uri = self.cli("ml", "batch-endpoint", "show", "--name", self.endpoint,
                                    "--query", "scoring_uri", "-o", "tsv").strip()
        assert self.scoring_uri == f"{server.url}/endpoints/{self.endpoint}/jobs"
        self.client = httpx.Client(headers={"Authorization": f"Bearer {server.token()}"},
                                   timeout=60)

    def close(self) -> None:
        self.client.close()

    def cli(self, *args: str) -> str:
        code, out, err = self.server.cli(*args)
        assert code == 0, f"batch-emulator {' '.join(args)} exited {code}: {err}"
        return out

    def run(self, deployment: Path, inputs: Path, *, output_path: str | None = None,
            overrides: dict[str, Any] | None = None) -> Outcome:
        self.deployments += 1
        self.cli("ml", "batch-deployment", "create", "--file", str(deployment), "--name",
                 f"dep-{self.deployments}", "--endpoint-name", self.endpoint, "--set-default",
                 "--set", f"compute=azureml:{self.compute}")
        properties: dict[str, Any] = {
            "InputData": {"input": {"JobInputType": "UriFolder", "Uri": str(inputs)}}}
        if output_path is not None:
            properties["OutputData"] = {"score": {"JobOutputType": "UriFolder",
                                                  "Uri": output_path}}
        properties.update(rest_overrides(overrides or {}))
        response = self.client.post(self.scoring_uri, json={"properties": properties})
        if response.status_code != 200:
            body = response.json()
            assert set(body) == {"error"}, response.text
            error = body["error"]
            if (response.status_code, error["code"]) == (409, "OutputAlreadyExists"):
                raise Refused(error["code"], error["message"])
            raise Refused(f"HTTP {response.status_code} {error['code']}", error["message"])
        name = response.json()["name"]
        started = response.json()["properties"]["status"]
        assert started in STARTED

        def ended() -> dict | None:
            got = self.client.get(f"{self.scoring_uri}/{name}")
            assert got.status_code == 200, got.text
            return got.json() if got.json()["properties"]["status"] in TERMINAL else None

        job = wait_for(ended, JOB_TIMEOUT, f"job {name} to end")["properties"]
        assert job["provisioningState"] == REST_PROVISIONING[job["status"]]
        outcome = from_show({"name": name, "status": job["status"], "properties": job["properties"],
                             **({"error": job["error"]} if "error" in job else {})})
        assert shown(self.home, name) == outcome
        return outcome


def rest_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Invoke overrides (dotted YAML keys) as the data plane's body takes them."""
    body: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "mini_batch_size":
            body["miniBatchSize"] = value
        elif key == "error_threshold":
            body["errorThreshold"] = value
        elif key == "retry_settings.max_retries":
            body.setdefault("retrySettings", {})["maxRetries"] = value
        elif key == "retry_settings.timeout":
            body.setdefault("retrySettings", {})["timeout"] = f"PT{value}S"
        else:
            raise AssertionError(f"no REST spelling for the override {key}")
    return body


@pytest.fixture(params=["python", "cli", "rest"])
def front(request, home, dask_scheduler_address):
    if request.param == "python":
        yield PythonFront(home, dask_scheduler_address)
    elif request.param == "cli":
        yield CliFront(home, dask_scheduler_address)
    else:
        rest = RestFront(request.getfixturevalue("rest_server"))
        yield rest
        rest.close()


# ----------------------------------------------------------------------------- helpers


def runs_of(trace_dir: Path, file_name: str) -> int:
    """How many run() calls were given ``file_name`` (from the scoring scripts' trace)."""
    return sum(file_name in row[1:] for row in trace_lines(trace_dir, "runs.txt"))


def dead(pid: int) -> bool:
    """Gone, or a zombie (killed, not yet reaped by its parent, the Dask worker)."""
    if not pid_alive(pid):
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:  # it went away between the two looks
        return True


def assert_no_results(outcome: Outcome) -> None:
    """A failed job leaves no results file, not even a partial one."""
    assert outcome.output_file is None
    assert not outcome.output_folder.exists() or not any(outcome.output_folder.iterdir())


# ----------------------------------------------------------------------------- scenarios


def test_success_writes_every_row_to_the_default_output(front, make_deployment, make_inputs):
    outcome = front.run(make_deployment("succeed_list.py", mini_batch_size=2), make_inputs(5))

    assert outcome.status == "Completed", outcome.error
    assert (outcome.total, outcome.succeeded, outcome.failed) == (5, 5, 0)
    assert outcome.error is None
    lines = outcome.rows()
    # mini-batches appear in completion order; the rows of one mini-batch stay together
    assert sorted(lines) == [f"f00{i}.txt: 20\n" for i in range(5)]
    for pair in (["f000.txt: 20\n", "f001.txt: 20\n"], ["f002.txt: 20\n", "f003.txt: 20\n"]):
        start = lines.index(pair[0])
        assert lines[start:start + 2] == pair
    workspace = front.home / "default"
    assert outcome.job_folder == workspace / "jobs" / outcome.name
    assert outcome.output_file == (workspace / "datastores" / "workspaceblobstore" / "azureml" /
                                   outcome.name / "score" / "predictions.csv")
    assert (outcome.job_folder / "logs" / "job_result.txt").read_text().startswith(
        "Completed: 5 of 5 file(s) succeeded")
    assert {row["Status"] for row in outcome.report().values()} == {"RUN_DONE"}


def test_raising_run_is_retried_then_its_files_fail(front, make_deployment, make_inputs,
                                                    trace_dir):
    outcome = front.run(make_deployment("raise_on_file.py", env={"FAIL_ON": "f003"},
                                        max_retries=2), make_inputs(6))

    assert outcome.status == "Completed"  # error_threshold -1 tolerates any failed file
    assert (outcome.total, outcome.succeeded, outcome.failed) == (6, 4, 2)
    assert runs_of(trace_dir, "f003.txt") == 3  # the first attempt + max_retries=2
    assert runs_of(trace_dir, "f000.txt") == 1
    report = outcome.report()
    assert (report["1"]["Attempts"], report["1"]["Status"], report["1"]["Failed"]) == (
        "3", "RUN_EXCEPTION", "2")
    assert report["1"]["Error Message"] == "ValueError: cannot score f003.txt"
    assert {report[i]["Status"] for i in ("0", "2")} == {"RUN_DONE"}
    assert sorted(outcome.rows()) == ["f000.txt\n", "f001.txt\n", "f004.txt\n", "f005.txt\n"]


def test_error_threshold_exceeded_fails_the_job_and_stops_pending_work(
        front, make_deployment, make_inputs, trace_dir):
    deployment = make_deployment("raise_on_file.py", env={"FAIL_ON": "f000"}, max_retries=0,
                                 mini_batch_size=1)
    outcome = front.run(deployment, make_inputs(40), overrides={"error_threshold": 0})

    assert outcome.status == "Failed"
    assert outcome.error is not None
    assert "more than error_threshold=0" in outcome.error
    assert "mini-batch 0" in outcome.error
    assert outcome.failed == 1  # one process, one file per mini-batch: f000 fails first
    assert len(trace_lines(trace_dir, "runs.txt")) < 40  # pending work was cancelled
    assert_no_results(outcome)


@pytest.mark.slow
def test_hung_run_is_killed_at_the_timeout(front, make_deployment, make_inputs, trace_dir):
    deployment = make_deployment("hang.py", env={"HANG_ON": "f000"}, max_retries=0)
    outcome = front.run(deployment, make_inputs(4), overrides={"retry_settings.timeout": 2})

    assert outcome.status == "Completed"
    assert (outcome.total, outcome.succeeded, outcome.failed) == (4, 2, 2)
    report = outcome.report()
    assert (report["0"]["Status"], report["0"]["Attempts"], report["0"]["Failed"]) == (
        "RUN_TIMEOUT", "1", "2")
    assert 2.0 <= float(report["0"]["Elapsed Seconds"]) < 5.0  # the 2 s override, not 30 s
    assert report["1"]["Status"] == "RUN_DONE"
    pids = {row[1]: int(row[0]) for row in trace_lines(trace_dir, "runs.txt")}
    assert pids.keys() == {"f000.txt", "f002.txt"}
    assert pids["f002.txt"] != pids["f000.txt"]  # the next mini-batch ran in a new process
    assert dead(pids["f000.txt"])  # the hung one was killed, not abandoned
    assert sorted(outcome.rows()) == ["f002.txt\n", "f003.txt\n"]


@pytest.mark.slow
def test_crashed_process_costs_one_attempt_and_the_job_completes(
        front, make_deployment, make_inputs, trace_dir):
    deployment = make_deployment("crash.py", env={"CRASH_ON": "f002", "CRASH_MODE": "exit"},
                                 max_retries=1)
    outcome = front.run(deployment, make_inputs(4))

    assert outcome.status == "Completed"
    assert (outcome.total, outcome.succeeded, outcome.failed) == (4, 2, 2)
    assert runs_of(trace_dir, "f002.txt") == 2
    crashed = {row[0] for row in trace_lines(trace_dir, "runs.txt") if "f002.txt" in row}
    assert len(crashed) == 2  # the crashed process was replaced
    report = outcome.report()
    assert (report["1"]["Status"], report["1"]["Attempts"], report["1"]["Failed"]) == (
        "PROCESS_CRASHED", "2", "2")
    assert "exited with code 3" in report["1"]["Error Message"]
    assert report["0"]["Status"] == "RUN_DONE"


def test_init_failure_fails_the_job_naming_init(front, make_deployment, make_inputs, trace_dir):
    outcome = front.run(make_deployment("init_fails.py"), make_inputs(2))

    assert outcome.status == "Failed"
    assert outcome.error is not None
    assert outcome.error.startswith("init() failed in every scoring process (FileNotFoundError: "
                                    "model.pkl not found in AZUREML_MODEL_DIR)")
    assert len(trace_lines(trace_dir, "inits.txt")) == 3  # three tries for the one slot
    assert (outcome.job_folder / "logs" / "job_error.txt").read_text().startswith("init()")
    assert_no_results(outcome)


def test_short_return_counts_the_shortfall_as_failed_without_retry(
        front, make_deployment, make_inputs, trace_dir):
    outcome = front.run(make_deployment("short_return.py", mini_batch_size=2), make_inputs(4))

    assert outcome.status == "Completed"
    assert (outcome.total, outcome.succeeded, outcome.failed) == (4, 2, 2)
    assert len(trace_lines(trace_dir, "runs.txt")) == 2  # a short return is not retried
    report = outcome.report()
    assert [(report[i]["Status"], report[i]["Attempts"], report[i]["Failed"])
            for i in ("0", "1")] == [("RUN_DONE", "1", "1")] * 2
    assert sorted(outcome.rows()) == ["f000.txt\n", "f002.txt\n"]


def test_summary_only_writes_no_results_file(front, make_deployment, make_inputs):
    outcome = front.run(make_deployment("writes_output.py", output_action="summary_only"),
                        make_inputs(3))

    assert outcome.status == "Completed", outcome.error
    assert (outcome.total, outcome.succeeded, outcome.failed) == (3, 3, 0)
    assert outcome.output_file is None
    # only what run() wrote itself: no predictions.csv
    assert sorted(p.name for p in outcome.output_folder.iterdir()) == [
        "f000.out", "f001.out", "f002.out"]


@pytest.mark.parametrize("action, script, words", [
    ("append_row", "succeed_list.py", "already exists"),
    ("summary_only", "writes_output.py", "not empty"),
])
def test_second_job_to_the_same_output_is_refused(front, make_deployment, make_inputs,
                                                  action, script, words):
    inputs = make_inputs(3)
    folder = f"scenarios/{uuid.uuid4().hex}"
    output = f"azureml://datastores/workspaceblobstore/paths/{folder}/"
    first = front.run(make_deployment(script, output_action=action), inputs, output_path=output)
    assert first.status == "Completed", first.error
    assert first.output_folder == (front.home / "default" / "datastores" / "workspaceblobstore" /
                                   folder)
    before = {p.name: p.read_bytes() for p in first.output_folder.iterdir()}
    expected = ["predictions.csv"] if action == "append_row" else ["f000.out", "f001.out",
                                                                   "f002.out"]
    assert sorted(before) == expected

    with pytest.raises(Refused) as refused:
        front.run(make_deployment("succeed_dataframe.py", output_action=action), inputs,
                  output_path=output)

    assert refused.value.code == "OutputAlreadyExists"
    assert words in refused.value.message
    assert {p.name: p.read_bytes() for p in first.output_folder.iterdir()} == before  # untouched
