"""Shared test fixtures: one Dask cluster per session, a fresh emulator home per test.

The cluster (2 workers x 2 threads, real processes) is the expensive part and is started
once; each test gets its own home, trace folder and deployment YAML, which cost nothing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.helpers import MODEL, SCORING, free_port, port_open, wait_for


@pytest.fixture(scope="session")
def dask_scheduler_address():
    """Address of a LocalCluster shared by the session (the pytest-httpserver pattern)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                               dashboard_address="127.0.0.1:0", memory_limit=0,
                               silence_logs=logging.ERROR)
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def trace_dir(tmp_path) -> Path:
    path = tmp_path / "trace"
    path.mkdir()
    return path


@pytest.fixture
def make_inputs(tmp_path) -> Callable[..., Path]:
    """``make_inputs(n)``: a folder of ``n`` small files ``f000.txt``..., sorted by name."""

    def make(count: int, name: str = "inputs", names: list[str] | None = None) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for file_name in names or [f"f{i:03d}.txt" for i in range(count)]:
            (folder / file_name).write_text(f"content of {file_name}\n")
        return folder

    return make


@pytest.fixture
def make_deployment(tmp_path, trace_dir) -> Callable[..., Path]:
    """``make_deployment("hang.py", timeout=2, ...)``: a current-layout YAML in tmp_path."""

    def make(script: str, *, env: dict | None = None, instance_count: int = 1,
             **settings) -> Path:
        retry = {k: settings.pop(k) for k in ("max_retries", "timeout") if k in settings}
        document = {
            "name": "test-deployment",
            "endpoint_name": "test-endpoint",
            "type": "model",
            "model": {"path": str(MODEL)},
            "code_configuration": {"code": str(SCORING), "scoring_script": script},
            "resources": {"instance_count": instance_count},
            "settings": {
                "mini_batch_size": 2,
                "max_concurrency_per_instance": 1,
                **settings,
                "retry_settings": {"max_retries": 3, "timeout": 30, **retry},
                "environment_variables": {"TRACE_DIR": str(trace_dir), **(env or {})},
            },
        }
        path = tmp_path / f"deployment-{len(list(tmp_path.glob('deployment-*.yml')))}.yml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    return make


@pytest.fixture
def run_job(home, dask_scheduler_address) -> Callable:
    """``run_job(yaml, input, **options)``: run on the session cluster and wait (deadline 120 s)."""
    from emulator import run_batch_job

    def run(deployment, input_path, **options):
        options.setdefault("scheduler_address", dask_scheduler_address)
        return run_batch_job(deployment, input_path, home=home, timeout=120, **options)

    return run


@pytest.fixture
def start_job(home, dask_scheduler_address) -> Callable:
    from emulator import start_batch_job

    def start(deployment, input_path, **options):
        options.setdefault("scheduler_address", dask_scheduler_address)
        return start_batch_job(deployment, input_path, home=home, **options)

    return start


@pytest.fixture
def dask_processes(tmp_path):
    """A scheduler and two workers (no nanny: a killed worker stays dead), each its own process."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed at teardown
    started = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                 "--host", "127.0.0.1", "--port", str(port),
                                 "--dashboard-address", "127.0.0.1:0"], stdout=log, stderr=log)]
    from distributed import Client

    wait_for(lambda: port_open(port), 60, "the scheduler")
    for number in range(2):
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-nanny",
             "--nthreads", "2", "--name", f"w{number}", "--dashboard-address", "127.0.0.1:0",
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


pytest_plugins = ["pytester"]
