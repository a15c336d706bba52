"""The official azure-ai-ml SDK drives the emulator unchanged (marker ``azure_sdk``; CI runs it)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("azure.ai.ml", reason="needs azure-ai-ml (the test extras pin it)")
httpx = pytest.importorskip("httpx")

from tests.helpers import run_cli, wait_for  # noqa: E402

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed"
HERE = Path(__file__).resolve().parent


@pytest.fixture
def azure_compatible_server(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "BATCH_EMULATOR_HOME": str(home)}
    process = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0",
                                "--azure-compatible"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    exports = {}
    while len(exports) < 3:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server did not start: {process.stderr.read()}")
        name, _, value = line.removeprefix("export ").strip().partition("=")
        exports[name] = value
    yield home, exports
    process.terminate()
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()


@pytest.mark.azure_sdk
@pytest.mark.slow
def test_the_sdk_batch_flow_against_the_emulator(azure_compatible_server, tmp_path,
                                                  monkeypatch, dask_scheduler_address):
    home, exports = azure_compatible_server
    base = exports["ARM_CLOUD_METADATA_URL"].split("/metadata/")[0]
    ca = ssl.create_default_context(cafile=exports["REQUESTS_CA_BUNDLE"])
    wait_for(lambda: httpx.get(f"{base}/health", verify=ca).status_code == 200, 30, "HTTPS")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/health")  # the local CA is needed
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(home))
    for args in (["ml", "compute", "create", "-n", "batch-cluster", "--type", "dask", "--set",
                  f"scheduler_address={dask_scheduler_address}"],
                 ["ml", "batch-endpoint", "create", "-n", "sdk-ep"],
                 ["ml", "batch-deployment", "create", "-f", str(SEED / "nonmlflow-deployment.yml"),
                  "-e", "sdk-ep", "--set-default"]):
        code, _, err = run_cli(*args)
        assert code == 0, err
    shutil.copytree(SEED / "mnist" / "data",
                    home / "default" / "datastores" / "workspaceblobstore" / "mnist")

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(HERE / "sdk_flow.py"), str(tmp_path / "another-home")],
        env={**os.environ, **exports}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"SDK flow took {time.monotonic() - started:.1f} s including imports")

    assert seen["listed"] == ["sdk-ep"]
    assert seen["scoring_uri"] == f"{base}/endpoints/sdk-ep/jobs"
    assert seen["created"] == ["sdk-made", "created by the SDK"]
    assert seen["status"].split(".")[-1].lower() == "completed"
    assert seen["invoked"] in seen["endpoint_jobs"]
    assert seen["stranger"] == 401  # a token from another home is refused
    assert f"RunId: {seen['invoked']}" in result.stdout
    assert "Execution Summary" in result.stdout
    # the CLI sees what the SDK did, and the other way round
    assert run_cli("ml", "batch-endpoint", "show", "-n", "sdk-made", "--query", "description",
                   "-o", "tsv")[1].strip() == "created by the SDK"
    shown = json.loads(run_cli("ml", "job", "show", "-n", seen["invoked"])[1])
    assert Path(shown["properties"]["output_file"]).read_text().count("\n") == 40
