"""A ``batch-emulator serve --port 0`` process over a fresh home, for the REST front of the
scenarios; started on first use and shared by the module (each test uses its own endpoint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_cli

COMPUTE = "scenario-cluster"


@dataclass
class Server:
    url: str
    home: Path
    log: Path

    def cli(self, *args: str) -> tuple[int, str, str]:
        return run_cli(*args, env={"BATCH_EMULATOR_HOME": str(self.home)})

    def token(self) -> str:
        """A data-plane token (audience https://ml.azure.com) issued the way a user gets one."""
        code, out, err = self.cli("account", "get-access-token", "--resource",
                                  "https://ml.azure.com", "--query", "accessToken", "-o", "tsv")
        assert code == 0, err
        return out.strip()


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory, dask_scheduler_address) -> Iterator[Server]:
    httpx = pytest.importorskip("httpx", reason="the REST front needs the 'server' extra")
    pytest.importorskip("fastapi", reason="the REST front needs the 'server' extra")
    root = tmp_path_factory.mktemp("rest-front")
    home = root / "home"
    log_path = root / "serve.log"
    env = {**os.environ, "BATCH_EMULATOR_HOME": str(home)}
    with open(log_path, "wb") as log:  # a file, not a pipe: a chatty server never blocks
        process = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0"],
                                   env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        url = _wait_until_healthy(httpx, process, home / "server.json", log_path)
        server = Server(url, home, log_path)
        code, _, err = server.cli("ml", "compute", "create", "-n", COMPUTE, "--type", "dask",
                                  "--set", f"scheduler_address={dask_scheduler_address}")
        assert code == 0, err
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(httpx, process: subprocess.Popen, record: Path, log: Path) -> str:
    deadline = time.monotonic() + 60
    while True:
        if record.exists():
            try:
                url = json.loads(record.read_text())["url"]
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    return url
            except (ValueError, KeyError, httpx.HTTPError):
                pass  # the record is being written, or the server is not listening yet
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
