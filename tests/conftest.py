"""Fixtures shared by tests across folders: external Dask processes."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.helpers import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dask_processes(tmp_path):
    """A scheduler and two workers (no nanny: a killed worker stays dead), each its own process."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed at teardown
    started = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                 "--host", "127.0.0.1", "--port", str(port),
                                 "--dashboard-address", ":0"], stdout=log, stderr=log)]
    from distributed import Client

    wait_for(lambda: _reachable(port), 60, "the scheduler")
    for number in range(2):
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-nanny",
             "--nthreads", "2", "--name", f"w{number}", "--dashboard-address", ":0",
             "--memory-limit", "0"], stdout=log, stderr=log))
    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    yield address, started
    for process in started[1:]:
        process.kill()  # workers; a graceful close waits on the scheduler for seconds
    started[0].terminate()
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


