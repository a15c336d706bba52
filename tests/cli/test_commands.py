"""The az-compatible CLI over a real workspace: resources, jobs in the background, bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.helpers import process_gone, run_cli, wait_for

SEED = Path(__file__).resolve().parents[2] / "examples"
SCORING = Path(__file__).resolve().parents[2] / "fixtures" / "scoring"


@pytest.fixture
def az(tmp_path, monkeypatch):
    """``az("ml", "batch-endpoint", ...)`` in a fresh home: (exit code, stdout, stderr)."""
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return run_cli


@pytest.fixture
def endpoint(az, dask_scheduler_address, tmp_path):
    """An endpoint with a default deployment running on the session's Dask cluster."""
    assert az("ml", "compute", "create", "-n", "batch-cluster", "--type", "dask", "--set",
              f"scheduler_address={dask_scheduler_address}")[0] == 0
    assert az("ml", "batch-endpoint", "create", "-n", "ep-one")[0] == 0
    code, _, err = az("ml", "batch-deployment", "create", "-f",
                      str(SEED / "nonmlflow-deployment.yml"), "-e", "ep-one", "--set-default")
    assert code == 0, err
    return "ep-one"


def invoke(az, *args) -> str:
    code, out, err = az("ml", "batch-endpoint", "invoke", "-n", "ep-one", *args, "--query",
                        "name", "-o", "tsv")
    assert code == 0, err
    return out.strip()


def wait_for_status(az, job: str, timeout: float = 60) -> str:
    def ended():
        status = az("ml", "job", "show", "-n", job, "--query", "status", "-o", "tsv")[1].strip()
        return status if status in ("Completed", "Failed", "Canceled") else None

    return wait_for(ended, timeout, f"job {job} to end")


def test_invoke_returns_at_once_and_the_job_completes_in_the_background(az, endpoint):
    code, out, _ = az("ml", "batch-endpoint", "invoke", "-n", endpoint, "--input",
                      str(SEED / "mnist" / "data"))
    job = json.loads(out)
    assert code == 0
    assert job["status"] in ("Queued", "Preparing", "Running", "Finalizing", "Completed")
    assert job["name"].startswith("batchjob-")
    assert job["outputs"]["score"]["path"] == (
        f"azureml://datastores/workspaceblobstore/paths/azureml/{job['name']}/score/")
    assert wait_for_status(az, job["name"]) == "Completed"
    shown = json.loads(az("ml", "job", "show", "-n", job["name"])[1])
    assert shown["properties"]["files_succeeded"] == "40"
    assert Path(shown["properties"]["output_file"]).read_text().count("\n") == 40
    assert Path(shown["properties"]["job_folder"], "logs", "job_result.txt").is_file()


def test_eight_invokes_at_once_get_distinct_jobs_and_all_are_recorded(az, endpoint, tmp_path):
    env = {**os.environ, "BATCH_EMULATOR_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "emulator", "ml", "batch-endpoint", "invoke", "-n",
               endpoint, "--input", str(SEED / "mnist" / "data"), "--query", "name", "-o", "tsv"]

    def run(_):
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    names = {r.stdout.strip() for r in results}
    assert len(names) == 8
    listed = json.loads(az("ml", "batch-endpoint", "list-jobs", "-n", endpoint)[1])
    assert {j["name"] for j in listed} == names
    assert {wait_for_status(az, name, 120) for name in names} == {"Completed"}


def test_a_runner_that_died_is_noticed_and_the_job_shown_failed(az, dask_scheduler_address,
                                                                tmp_path):
    hanging_endpoint(az, dask_scheduler_address, tmp_path, "ep-hang")
    # every attempt hangs for 3 s: the job cannot end before the runner is killed
    code, out, err = az("ml", "batch-endpoint", "invoke", "-n", "ep-hang", "--input",
                        str(SEED / "mnist" / "data"), "--set", "retry_settings.timeout=3",
                        "retry_settings.max_retries=0", "--query", "name", "-o", "tsv")
    assert code == 0, err
    job = out.strip()
    wait_for(lambda: az("ml", "job", "show", "-n", job, "--query", "status", "-o",
                        "tsv")[1].strip() == "Running", 60, "Running")
    db = next((tmp_path / "home").glob("*/workspace.db"))
    pid = sqlite3.connect(db).execute("SELECT runner_pid FROM jobs WHERE name = ?",
                                      (job,)).fetchone()[0]
    os.kill(pid, signal.SIGKILL)

    def noticed():  # the dead runner's threads release its lock a moment after it dies
        shown = json.loads(az("ml", "job", "show", "-n", job)[1])
        return shown if shown["status"] != "Running" else None

    shown = wait_for(noticed, 30, "the dead runner to be noticed")
    assert process_gone(pid)
    assert shown["status"] == "Failed"
    assert f"the job runner process (pid {pid}) ended without finishing" in \
        shown["error"]["message"]
    assert az("ml", "job", "show", "-n", job, "--query", "status", "-o", "tsv")[1] == \
        "Failed\n"  # recorded, not only shown
    output = Path(shown["properties"]["output_folder"])  # what the dead runner held is gone:
    assert sorted(p.name for p in output.iterdir()) == []  # its partial file and its claim


def hanging_endpoint(az, scheduler_address: str, tmp_path: Path, endpoint: str) -> None:
    """``endpoint`` whose default deployment's run() hangs, on the session's cluster."""
    az("ml", "compute", "create", "-n", "cluster", "--type", "dask", "--set",
       f"scheduler_address={scheduler_address}")
    az("ml", "batch-endpoint", "create", "-n", endpoint)
    deployment = tmp_path / "hang.yml"
    deployment.write_text(yaml.safe_dump({
        "name": "hang", "endpoint_name": endpoint, "type": "model",
        "model": {"path": str(SEED / "mnist" / "model")},
        "code_configuration": {"code": str(SCORING), "scoring_script": "hang.py"},
        "compute": "azureml:cluster"}))
    assert az("ml", "batch-deployment", "create", "-f", str(deployment), "--set-default")[0] == 0


@pytest.mark.slow
def test_cancel_through_the_cli(az, dask_scheduler_address, tmp_path):
    hanging_endpoint(az, dask_scheduler_address, tmp_path, "ep-hang")
    code, out, _ = az("ml", "batch-endpoint", "invoke", "-n", "ep-hang", "--input",
                      str(SEED / "mnist" / "data"), "--query", "name", "-o", "tsv")
    job = out.strip()
    wait_for(lambda: az("ml", "job", "show", "-n", job, "--query", "status", "-o",
                        "tsv")[1].strip() == "Running", 60, "Running")
    code, out, _ = az("ml", "job", "cancel", "-n", job, "--query", "status", "-o", "tsv")
    assert (code, out.strip()) == (0, "CancelRequested")
    assert wait_for_status(az, job) == "Canceled"
    shown = json.loads(az("ml", "job", "show", "-n", job)[1])
    assert not Path(shown["properties"]["output_folder"], "predictions.csv").exists()
    code, _, err = az("ml", "job", "stream", "-n", job)
    assert code != 0 and "ended Canceled" in err


def test_output_formats_and_query(az, endpoint):
    assert az("ml", "batch-endpoint", "show", "-n", endpoint, "--query", "name", "-o", "tsv")[1] \
        == "ep-one\n"
    assert yaml.safe_load(az("ml", "batch-endpoint", "show", "-n", endpoint, "-o", "yaml")[1])[
        "defaults"] == {"deployment_name": "nonmlflowdp"}
    table = az("ml", "batch-endpoint", "list", "-o", "table")[1].splitlines()
    assert table[0].split()[0] == "Name" and table[2].startswith("ep-one")
    assert az("ml", "batch-endpoint", "list", "-o", "none")[1] == ""
    assert az("batch-endpoint", "show", "-n", "EP-ONE", "--query", "name", "-o", "tsv")[1] == \
        "ep-one\n"  # 'ml' optional; names are case-insensitive


def test_account_tokens_and_configure(az, tmp_path):
    code, out, _ = az("account", "get-access-token", "--resource", "https://ml.azure.com")
    token = json.loads(out)
    assert code == 0 and token["tokenType"] == "Bearer" and token["accessToken"].count(".") == 2
    from emulator.workspace.auth import verify_token

    claims = verify_token(tmp_path / "home", token["accessToken"], "https://ml.azure.com")
    assert claims["aud"] == "https://ml.azure.com"
    assert az("configure", "--defaults", "group=rg1", "workspace=ws1")[0] == 0
    listed = json.loads(az("configure", "-l")[1])
    assert {d["name"]: d["value"] for d in listed} == {"group": "rg1", "workspace": "ws1"}
    az("ml", "batch-endpoint", "create", "-n", "in-ws1", "-o", "none")
    assert (tmp_path / "home" / "ws1" / "workspace.db").exists()
    assert az("ml", "batch-endpoint", "list", "-w", "other", "--query", "length(@)", "-o",
              "tsv")[1] == "0\n"


def test_assets_are_copied_and_versioned(az, tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "w.txt").write_text("1")
    for _ in range(2):
        assert az("ml", "model", "create", "-n", "m", "--path", str(model), "-o", "none")[0] == 0
    (model / "w.txt").write_text("changed later")
    shown = json.loads(az("ml", "model", "show", "-n", "m", "--label", "latest")[1])
    assert shown["version"] == "2"
    assert Path(shown["local_path"]).name == "my-model"
    assert Path(shown["local_path"], "w.txt").read_text() == "1"  # a copy, not a reference
    # versions are immutable: the same definition again is that version, another is a conflict
    code, out, _ = az("ml", "model", "create", "-n", "m", "--version", "2", "--path", str(model))
    assert (code, json.loads(out)["local_path"]) == (0, shown["local_path"])
    other = tmp_path / "other-model"
    other.mkdir()
    code, _, err = az("ml", "model", "create", "-n", "m", "--version", "2", "--path", str(other))
    assert code == 4 and "version 2 exists with another path" in err and "immutable" in err
    assert az("ml", "model", "list", "-n", "m", "--query", "[].version", "-o", "tsv")[1] == \
        "1\n2\n"
    assert Path(shown["local_path"], "w.txt").read_text() == "1"


# ------------------------------------------------------------------------------ bad input


def snapshot(home: Path) -> tuple:
    """Everything the store holds: database rows and files (logs excluded)."""
    rows = []
    for db in sorted(home.glob("*/workspace.db")):
        connection = sqlite3.connect(db)
        rows += connection.execute("SELECT kind, name, version, body FROM resources "
                                   "ORDER BY 1, 2, 3").fetchall()
        rows += connection.execute("SELECT name, status FROM jobs ORDER BY 1").fetchall()
        connection.close()
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*")
                   if "workspace.db" not in p.name and "/logs/" not in str(p))
    return rows, files


@pytest.fixture
def completed_job(az, endpoint, tmp_path):
    job = invoke(az, "--input", str(SEED / "mnist" / "data"), "--output-path",
                 "azureml://datastores/workspaceblobstore/paths/used")
    assert wait_for_status(az, job) == "Completed"
    return job


BAD_YAML = {
    "invalid-yaml.yml": "name: [unclosed\n",
    "unknown-key.yml": "name: dep-x\nendpoint_name: ep-one\ntype: model\nmodel: azureml:m:1\n"
                       "colour: red\n",
    "wrong-type.yml": "name: dep-x\nendpoint_name: ep-one\ntype: model\nmodel: azureml:m:1\n"
                      "settings:\n  mini_batch_size: many\n",
    "bad-name.yml": "name: 9-lives\nendpoint_name: ep-one\ntype: model\nmodel: azureml:m:1\n",
}


BAD_COMMANDS = [  # (command line, part of the one-line error)
    ("batch-deployment create -f invalid-yaml.yml", "invalid-yaml.yml:2: not valid YAML"),
    ("batch-deployment create -f unknown-key.yml", "unknown-key.yml:5: $: unknown key(s) 'colour'"),
    ("batch-deployment create -f wrong-type.yml", "wrong-type.yml:6: $.settings.mini_batch_size"),
    ("batch-deployment create -f bad-name.yml", "bad-name.yml:1: $.name: '9-lives' is not valid"),
    ("batch-deployment create -f missing.yml", "missing.yml: file not found"),
    ("batch-endpoint create -n x", "'x' is not valid: 3-32 characters"),
    ("batch-endpoint show -n nope", "batch endpoint 'nope' does not exist"),
    ("batch-deployment show -n nope -e ep-one",
     "deployment 'nope' does not exist under endpoint 'ep-one'"),
    ("job show -n batchjob-nope", "job 'batchjob-nope' does not exist"),
    ("batch-endpoint invoke -n ep-one --input DATA "
     "--output-path azureml://datastores/workspaceblobstore/paths/used",
     "already exists and is never overwritten"),
    ("batch-endpoint invoke -n ep-one --input 5 --input-type integer",
     "The specified job input type 'LiteralJobInput' is not supported"),
    ("batch-endpoint invoke -n ep-one --input DATA -d nope", "Deployment name nope not found"),
    ("batch-endpoint invoke -n ep-one --input /no/such/folder",
     "input path /no/such/folder does not exist"),
    ("batch-endpoint invoke -n ep-one --input DATA --set mini_batch_size=0", "mini_batch_size"),
    ("batch-endpoint invoke -n ep-one --input DATA --job-name JOB", "already exists"),
    ("batch-endpoint update -n ep-one --set defaults.deployment_name=nope",
     "deployment 'nope' does not exist"),
    ("batch-endpoint invoke -n ep-one", "--input"),
    ("batch-endpoint show", "Missing option '--name'"),
]


@pytest.mark.parametrize("command, message", BAD_COMMANDS)
def test_bad_input_is_one_line_non_zero_and_changes_nothing(command, message, az, completed_job,
                                                            tmp_path):
    for name, text in BAD_YAML.items():
        (tmp_path / name).write_text(text)
    replacements = {"DATA": str(SEED / "mnist" / "data"), "JOB": completed_job}
    args = ["ml", *(replacements.get(word, word) for word in command.split())]
    before = snapshot(tmp_path / "home")
    code, out, err = az(*args)
    assert code != 0
    assert message in err
    assert err.count("\n") == 1 and err.startswith("ERROR: "), err
    assert "Traceback" not in out + err
    assert snapshot(tmp_path / "home") == before


def test_no_default_deployment_gives_azures_routing_message(az, tmp_path):
    az("ml", "batch-endpoint", "create", "-n", "empty-ep")
    code, _, err = az("ml", "batch-endpoint", "invoke", "-n", "empty-ep", "--input", str(tmp_path))
    assert code != 0 and "No valid deployments to route to" in err


def test_deleting_the_default_deployment_clears_the_default_with_a_warning(az, endpoint):
    code, _, err = az("ml", "batch-deployment", "delete", "-n", "nonmlflowdp", "-e", endpoint,
                      "--yes")
    assert code == 0 and "WARNING: deployment 'nonmlflowdp' was the default" in err
    assert az("ml", "batch-endpoint", "show", "-n", endpoint, "--query",
              "defaults.deployment_name", "-o", "tsv")[1] == ""


def test_validate_prints_every_error_with_file_and_line(az, tmp_path):
    good = tmp_path / "endpoint.yml"
    good.write_text("name: good-endpoint\n")
    bad = tmp_path / "deployment.yml"
    bad.write_text("name: dep-one\ntype: model\nmodel: azureml:m:1\nsettings:\n"
                   "  mini_batch_size: 0\n  output_action: merge\n")
    code, out, _ = az("validate", str(good))
    assert (code, out) == (0, "1 file(s) valid\n")
    code, _, err = az("validate", str(good), str(bad))
    assert code == 2
    assert err.splitlines() == [
        f"{bad}:5: $.settings.mini_batch_size: 0 is less than the minimum of 1",
        f"{bad}:6: $.settings.output_action: 'merge' is not one of ['append_row', 'summary_only']",
    ]


@pytest.mark.slow
def test_jobs_beyond_the_running_limit_stay_queued_and_can_be_cancelled_there(
        az, dask_scheduler_address, tmp_path, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_MAX_RUNNING_JOBS", "1")
    hanging_endpoint(az, dask_scheduler_address, tmp_path, "ep-limit")

    def invoke_hanging() -> str:
        return az("ml", "batch-endpoint", "invoke", "-n", "ep-limit", "--input",
                  str(SEED / "mnist" / "data"), "--query", "name", "-o", "tsv")[1].strip()

    def status(job: str) -> str:
        return az("ml", "job", "show", "-n", job, "--query", "status", "-o", "tsv")[1].strip()

    first = invoke_hanging()
    wait_for(lambda: status(first) == "Running", 60, "the first job to run")
    second = invoke_hanging()
    runner = sqlite3.connect(next((tmp_path / "home").glob("*/workspace.db"))).execute(
        "SELECT runner_pid FROM jobs WHERE name = ?", (second,)).fetchone()[0]
    wait_for(lambda: Path(f"/proc/{runner}/cmdline").exists(), 10, "the second runner")
    assert status(second) == "Queued"  # its runner waits for the one slot
    az("ml", "job", "cancel", "-n", second)
    assert wait_for_status(az, second) == "Canceled"
    from emulator.jobs.record import JobRecord

    folder = json.loads(az("ml", "job", "show", "-n", second)[1])["properties"]["job_folder"]
    assert JobRecord.load(folder).statuses == ["NotStarted", "Queued", "Canceled"]  # never ran
    assert status(first) == "Running"
    az("ml", "job", "cancel", "-n", first)
    assert wait_for_status(az, first) == "Canceled"
