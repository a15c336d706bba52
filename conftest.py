"""Shared test fixtures: one Dask cluster per session, a fresh emulator home per test.

The cluster (2 workers x 2 threads, real processes) is the expensive part and is started
once; each test gets its own home, trace folder and deployment YAML, which cost nothing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent
FIXTURES = ROOT / "fixtures"
SCORING = FIXTURES / "scoring"
MODEL = FIXTURES / "model" / "model"


@pytest.fixture(scope="session")
def dask_scheduler_address():
    """Address of a LocalCluster shared by the session (the pytest-httpserver pattern)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                               dashboard_address=":0", memory_limit=0,
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


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    """Poll ``condition`` until truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def trace_lines(trace_dir: Path, name: str) -> list[list[str]]:
    path = trace_dir / name
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines()]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


pytest_plugins = ["pytester"]
