"""Reads never import the engine: `show`, `list`, `configure`, `account`, `validate` and the
REST server's reads load neither Dask nor pandas (issue 16), so a user typing `show` does not
wait for them. Each command runs in a fresh interpreter that reports what it imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emulator.service import BatchService
from tests.helpers import SEED, run_cli

HEAVY = ("distributed", "dask", "pandas", "pyarrow", "numpy")
CLI_PROBE = """
import sys
from emulator.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    assert not stop.code, stop.code
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""
REST_PROBE = """
import sys
from pathlib import Path
from fastapi.testclient import TestClient
from emulator.server.app import create_app
from emulator.workspace.auth import MANAGEMENT_RESOURCE, issue_token

home = Path(sys.argv[1])
token = issue_token(home, MANAGEMENT_RESOURCE)["accessToken"]
ws = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
      "Microsoft.MachineLearningServices/workspaces/default")
client = TestClient(create_app(home, workspace="default"))
for path in ("/batchEndpoints", "/batchEndpoints/fast-ep", "/jobs", "/jobs/" + sys.argv[2]):
    answer = client.get(ws + path, params={{"api-version": "2024-01-01"}},
                        headers={{"Authorization": "Bearer " + token}})
    assert answer.status_code == 200, (path, answer.text)
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory, dask_scheduler_address):
    """A home with an endpoint, its deployment and a finished job."""
    home = tmp_path_factory.mktemp("fast-reads") / "home"
    env = {"BATCH_EMULATOR_HOME": str(home)}
    for args in (["ml", "compute", "create", "-n", "batch-cluster", "--type", "dask", "--set",
                  f"scheduler_address={dask_scheduler_address}"],
                 ["ml", "batch-endpoint", "create", "-n", "fast-ep"],
                 ["ml", "batch-deployment", "create", "-f", str(SEED / "nonmlflow-deployment.yml"),
                  "-e", "fast-ep", "--set-default"]):
        code, _, err = run_cli(*args, env=env)
        assert code == 0, err
    job = BatchService(home=home).invoke("fast-ep", input=str(SEED / "mnist" / "data"))
    BatchService(home=home).wait_job(job["name"], timeout=120)
    return home, job["name"]


def imported_heavy(probe: str, *args: str, env: dict | None = None) -> list[str]:
    result = subprocess.run([sys.executable, "-c", probe.format(heavy=HEAVY), *args],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stderr.splitlines() if line.startswith("HEAVY="))
    return [name for name in line.removeprefix("HEAVY=").split(",") if name]


READS = {
    "endpoint show": ["ml", "batch-endpoint", "show", "-n", "fast-ep"],
    "endpoint list": ["ml", "batch-endpoint", "list"],
    "deployment list": ["ml", "batch-deployment", "list", "-e", "fast-ep"],
    "job list": ["ml", "job", "list"],
    "job show": ["ml", "job", "show", "-n", "JOB"],
    "model list": ["ml", "model", "list"],
    "compute show": ["ml", "compute", "show", "-n", "batch-cluster"],
    "compute list": ["ml", "compute", "list"],
    "component list": ["ml", "component", "list"],
    "workspace show": ["ml", "workspace", "show"],
    "configure": ["configure", "-l"],
    "account": ["account", "show"],
    "validate": ["validate", str(SEED / "nonmlflow-deployment.yml")],
}


@pytest.mark.parametrize("command", READS, ids=list(READS))
def test_a_cli_read_imports_neither_dask_nor_pandas(home, command):
    folder, job = home
    args = [job if arg == "JOB" else arg for arg in READS[command]]
    env = {"BATCH_EMULATOR_HOME": str(folder), "PATH": "/usr/bin:/bin"}
    assert imported_heavy(CLI_PROBE, *args, env=env) == []


def test_the_rest_servers_reads_import_neither_dask_nor_pandas(home):
    folder, job = home
    assert imported_heavy(REST_PROBE, str(folder), job) == []
