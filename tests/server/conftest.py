"""A live server on a loopback port for the session, over its own home, plus tokens."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="server tests need the 'server' extra")
httpx = pytest.importorskip("httpx", reason="server tests need the 'server' extra")

from emulator.workspace.auth import MANAGEMENT_RESOURCE, ML_RESOURCE, issue_token  # noqa: E402
from tests.helpers import SEED, run_cli, start_server, stop_server  # noqa: E402

WS = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg/providers/"
      "Microsoft.MachineLearningServices/workspaces/default")


@dataclass
class LiveServer:
    url: str
    home: Path
    process: subprocess.Popen

    def token(self, resource: str = ML_RESOURCE, lifetime: int = 3600) -> str:
        return issue_token(self.home, resource, lifetime=lifetime)["accessToken"]

    def client(self, resource: str | None = ML_RESOURCE) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(resource)}"} if resource else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def management(self) -> httpx.Client:
        return self.client(MANAGEMENT_RESOURCE)

    def cli(self, *args: str) -> tuple[int, str, str]:
        return run_cli(*args, env={"BATCH_EMULATOR_HOME": str(self.home)})


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, dask_scheduler_address) -> Iterator[LiveServer]:
    """``batch-emulator serve --port 0`` in its own process, with the seed's endpoint deployed
    on the session's Dask cluster (compute ``batch-cluster`` of type dask)."""
    home = tmp_path_factory.mktemp("server-home")
    url, process = start_server(home)
    server = LiveServer(url, home, process)
    for args in (
        ["ml", "compute", "create", "-n", "batch-cluster", "--type", "dask", "--set",
         f"scheduler_address={dask_scheduler_address}"],
        ["ml", "batch-endpoint", "create", "--file", str(SEED / "batch-endpoint.yml")],
        ["ml", "batch-deployment", "create", "--file", str(SEED / "nonmlflow-deployment.yml"),
         "--set-default"],
        ["ml", "data", "create", "--name", "mnist-images", "--version", "1", "--path",
         str(SEED / "mnist" / "data")],
    ):
        code, _, err = server.cli(*args)
        assert code == 0, err
    yield server
    stop_server(process)
