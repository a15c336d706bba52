"""A ``batch-emulator serve --port 0`` process over a fresh home, for the REST front of the
scenarios; started on first use and shared by the module (each test uses its own endpoint)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_cli, start_server, stop_server

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
    pytest.importorskip("httpx", reason="the REST front needs the 'server' extra")
    pytest.importorskip("fastapi", reason="the REST front needs the 'server' extra")
    root = tmp_path_factory.mktemp("rest-front")
    home = root / "home"
    url, process = start_server(home)
    try:
        server = Server(url, home, root / "home-serve.log")
        code, _, err = server.cli("ml", "compute", "create", "-n", COMPUTE, "--type", "dask",
                                  "--set", f"scheduler_address={dask_scheduler_address}")
        assert code == 0, err
        yield server
    finally:
        stop_server(process)
