"""Azure's own clients drive the emulator unchanged: the azure-ai-ml SDK through ``serve
--azure-compatible``, and azure-storage-blob against the Azurite it manages (marker
``azure_sdk``; CI installs both and runs it)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("azure.ai.ml", reason="needs azure-ai-ml (the test extras pin it)")
httpx = pytest.importorskip("httpx")

from emulator.azure import AzureCompatibleServer, EmulatorCredential  # noqa: E402
from emulator.workspace import azurite  # noqa: E402
from tests.helpers import REPO_AZURITE, require_azurite, run_cli  # noqa: E402
from tests.server.conftest import WS  # noqa: E402

SEED = Path(__file__).resolve().parents[2] / "examples"
HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.azure_sdk, pytest.mark.slow]


@pytest.fixture
def azure_compatible_server(tmp_path, monkeypatch):
    """The server over a brand-new home; it finds the Azurite of tools/azurite by itself."""
    require_azurite()
    home = tmp_path / "home"
    found_by_serve = {"BATCH_EMULATOR_AZURITE": ""} if REPO_AZURITE.exists() else {}
    server = AzureCompatibleServer(home, env=found_by_serve)
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(home))
    try:
        # Its workspace exists before any write: the SDK's first calls are reads.
        token = EmulatorCredential(home).get_token(server.url + "/.default").token
        listed = httpx.get(f"{server.url}{WS}/batchEndpoints",
                           headers={"Authorization": f"Bearer {token}"},
                           verify=ssl.create_default_context(
                               cafile=server.exports["REQUESTS_CA_BUNDLE"]))
        assert listed.status_code == 200, listed.text
        yield home, server.exports
    finally:
        errors = server.stop()
    assert "serving workspace 'default'" in errors and "Azurite serves" in errors
    assert azurite.running(home) is None  # Azurite stopped with the server


@pytest.fixture
def dask_compute(azure_compatible_server, dask_scheduler_address):
    code, _, err = run_cli("ml", "compute", "create", "-n", "batch-cluster", "--type", "dask",
                           "--set", f"scheduler_address={dask_scheduler_address}")
    assert code == 0, err


def sdk(exports: dict, *args: str) -> tuple[dict | list, str]:
    result = subprocess.run([sys.executable, str(HERE / "sdk_flow.py"), *args],
                            env={**os.environ, **exports}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout


def test_the_sdk_batch_flow_matches_the_cli(azure_compatible_server, dask_compute, tmp_path):
    _, exports = azure_compatible_server
    downloaded = tmp_path / "sdk-download"
    seen, printed = sdk(exports, str(SEED / "mnist"), str(downloaded), str(tmp_path / "other"))
    print(f"SDK flow took {seen['seconds']} s after imports")

    assert seen["deployment"][0] == "sdk-dp" and seen["deployment"][2] == 10
    assert "/models/mnist-digits/versions/1" in seen["deployment"][1]
    assert seen["default"] == "sdk-dp" and seen["listed"] == ["sdk-ep"]
    assert seen["status"].split(".")[-1].lower() == "completed"
    assert seen["endpoint_jobs"] == [seen["invoked"]]
    assert seen["stranger"] == 401  # a token from another home is refused
    assert f"RunId: {seen['invoked']}" in printed and "Execution Summary" in printed
    sdk_rows = (downloaded / "predictions.csv").read_text().splitlines()
    assert len(sdk_rows) == 40

    # The scoring child job: listed with its times, got, streamed, its output downloaded.
    assert seen["child"][0] == seen["invoked"] + "-batchscoring"
    assert seen["child"][1].split(".")[-1].lower() == "completed"
    assert "None" not in seen["times"], seen["times"]
    assert f"RunId: {seen['invoked']}-batchscoring" in printed
    child_rows = (tmp_path / "sdk-download-child" / "named-outputs" / "score" /
                  "predictions.csv").read_text().splitlines()
    assert sorted(child_rows) == sorted(sdk_rows)
    # What the emulator does not serve is said so, in Azure's error shape.
    for status, message in seen["unsupported"]:
        assert status in (404, 405) and "not supported by the emulator: " in message, message
    assert "GET onlineEndpoints/an-online-endpoint" in seen["unsupported"][0][1]
    assert "POST computes/batch-cluster/restart" in seen["unsupported"][1][1]
    assert seen["computes_left"] == []  # deleted through the SDK

    # The CLI sees what the SDK registered, and runs the same job on the same deployment.
    assert run_cli("ml", "model", "show", "-n", "mnist-digits", "--version", "1", "--query",
                   "type", "-o", "tsv")[1].strip() == "custom_model"
    code, out, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "sdk-ep", "--input",
                             str(SEED / "mnist" / "data"), "--query", "name", "-o", "tsv")
    assert code == 0, err
    cli_job = out.strip()
    code, _, err = run_cli("ml", "job", "stream", "-n", cli_job)
    assert code == 0, err
    code, _, err = run_cli("ml", "job", "download", "-n", cli_job, "--output-name", "score",
                           "--download-path", str(tmp_path / "cli-download"))
    assert code == 0, err
    cli_rows = (tmp_path / "cli-download" / "named-outputs" / "score" /
                "predictions.csv").read_text().splitlines()
    assert sorted(cli_rows) == sorted(sdk_rows)
    listed = json.loads(run_cli("ml", "job", "list", "--query", "[].name")[1])
    assert set(listed) == {seen["invoked"], cli_job}
    jobs, _ = sdk(exports, "list", "sdk-ep")  # and the SDK sees the CLI's job
    assert set(jobs) == {seen["invoked"], cli_job}

    # The tutorial's other steps: a compute, a data asset from a local folder, invoke on it.
    seen, _ = sdk(exports, "assets", "sdk-ep", str(SEED / "mnist" / "data"))
    assert seen["compute"] == 3 and seen["models"] == ["1"]
    assert seen["environments"] == ["CliV2AnonymousEnvironment"]
    assert seen["data"][0] == "1" and "/LocalUpload/" in seen["data"][1]
    assert run_cli("ml", "compute", "show", "-n", "cpu-cluster", "--query", "max_instances",
                   "-o", "tsv")[1].strip() == "3"
    registered = json.loads(run_cli("ml", "data", "show", "-n", "digits", "--version", "1")[1])
    assert len(list(Path(registered["local_path"]).iterdir())) == 40  # copied into the workspace
    assert run_cli("ml", "job", "stream", "-n", seen["job"])[0] == 0
    shown = json.loads(run_cli("ml", "job", "show", "-n", seen["job"])[1])
    assert shown["status"] == "Completed" and shown["properties"]["files_total"] == "40"


def test_the_sdk_streams_a_job_from_the_moment_it_is_queued(azure_compatible_server,
                                                             dask_compute):
    _, exports = azure_compatible_server
    for args in (["ml", "batch-endpoint", "create", "-n", "stream-ep"],
                 ["ml", "batch-deployment", "create", "-f", str(SEED / "nonmlflow-deployment.yml"),
                  "-e", "stream-ep", "--set-default"]):
        code, _, err = run_cli(*args)
        assert code == 0, err
    seen, printed = sdk(exports, "stream", "stream-ep", str(SEED / "mnist" / "data"))
    assert seen["queued_as"].lower() == "queued"
    assert seen["after_stream"].split(".")[-1].lower() == "completed"
    assert "40 input files in 4 mini-batches" in printed  # the job's log, streamed
    assert printed.index("Execution Summary") > printed.index("40 input files")


def test_azure_storage_blob_reads_and_writes_the_workspace_blob_store(
        azure_compatible_server, dask_compute):
    from azure.storage.blob import ContainerClient

    home, _ = azure_compatible_server
    for args in (["ml", "batch-endpoint", "create", "-n", "blob-ep"],
                 ["ml", "batch-deployment", "create", "-f", str(SEED / "nonmlflow-deployment.yml"),
                  "-e", "blob-ep", "--set-default"]):
        code, _, err = run_cli(*args)
        assert code == 0, err
    shown = json.loads(run_cli("ml", "datastore", "show", "-n", "workspaceblobstore")[1])
    container = ContainerClient(shown["account_url"], shown["container_name"],
                                credential={"account_name": shown["account_name"],
                                            "account_key": azurite.ACCOUNT_KEY},
                                connection_verify=shown["ca_bundle"])
    images = sorted((SEED / "mnist" / "data").iterdir())[:12]
    for image in images:
        container.upload_blob(f"uploads/digits/{image.name}", image.read_bytes())

    def invoke() -> tuple[int, str, str]:
        return run_cli("ml", "batch-endpoint", "invoke", "-n", "blob-ep", "--input",
                       "azureml://datastores/workspaceblobstore/paths/uploads/digits/",
                       "--output-path", "azureml://datastores/workspaceblobstore/paths/scored/",
                       "--query", "name", "-o", "tsv")

    code, out, err = invoke()
    assert code == 0, err
    assert run_cli("ml", "job", "stream", "-n", out.strip())[0] == 0
    rows = container.download_blob("scored/predictions.csv").readall().decode().splitlines()
    assert sorted(row.split(":")[0] for row in rows) == [image.name for image in images]
    code, _, err = invoke()  # an existing result is never overwritten
    assert code != 0 and "scored/predictions.csv already exists" in err
    assert not (home / "default" / "datastores" / "workspaceblobstore" / "scored").exists()


def test_without_azurite_the_server_says_how_to_install_it(tmp_path):
    home = tmp_path / "home"
    server = AzureCompatibleServer(home, env={"BATCH_EMULATOR_AZURITE": str(tmp_path / "none")})
    exports, base = server.exports, server.url
    try:
        token = run_cli("account", "get-access-token", "--query", "accessToken", "-o", "tsv",
                        env={"BATCH_EMULATOR_HOME": str(home)})[1].strip()
        workspace = (f"{base}/subscriptions/s/resourceGroups/rg/providers/"
                     "Microsoft.MachineLearningServices/workspaces/default")
        ca = ssl.create_default_context(cafile=exports["REQUESTS_CA_BUNDLE"])
        answer = httpx.get(f"{workspace}/datastores/workspaceblobstore",
                           headers={"Authorization": f"Bearer {token}"}, verify=ca)
        assert answer.status_code == 503
        assert "npm install -g azurite@3" in answer.json()["error"]["message"]
        assert httpx.get(f"{workspace}/batchEndpoints", verify=ca,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        errors = server.stop()
    assert "Azurite was not found; install Node.js 18+ and run 'npm install -g azurite@3'" \
        in errors


def test_a_second_server_on_the_home_shares_its_azurite(azure_compatible_server):
    home, _ = azure_compatible_server
    first = azurite.running(home)
    second = AzureCompatibleServer(home)
    exports, second_errors = second.exports, second.stop()
    assert f"already serves workspaceblobstore at {first['account_url']}" in second_errors
    assert azurite.running(home) == first  # the first server's Azurite serves on
    assert exports["REQUESTS_CA_BUNDLE"] == first["ca"]
