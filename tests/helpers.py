"""The tests' helpers, in one place: waiting on a condition with a deadline, the fixture
folders, trace files, processes, the CLI in this process, a server in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SCORING = FIXTURES / "scoring"
MODEL = FIXTURES / "model" / "model"
SEED = ROOT / "examples"  # the seed article's files, which the README's examples use
REPO_AZURITE = ROOT / "tools/azurite/node_modules/.bin/azurite-blob"
POLL_SECONDS = 0.02


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    """Poll ``condition`` until truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def trace_lines(trace_dir: Path, name: str) -> list[list[str]]:
    path = trace_dir / name
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines()]


def process_gone(pid: int) -> bool:
    """Dead, or a zombie that only waits to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_server(home: Path, *options: str, env: dict | None = None,
                 timeout: float = 60) -> tuple[str, subprocess.Popen]:
    """``batch-emulator serve --port 0 OPTIONS`` over ``home`` in its own process: (its URL
    once ``/health`` answers, the process). Its output goes to ``<home>/../serve.log`` (a
    file, not a pipe: a chatty server never blocks). Stop it with :func:`stop_server`."""
    import httpx  # the 'server' extra, as the tests that start servers

    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / f"{home.name}-serve.log"
    environment = {**os.environ, **(env or {}), "BATCH_EMULATOR_HOME": str(home)}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0",
                                    *options], env=environment, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log)
    record = home / "server.json"

    def healthy() -> str | None:
        if process.poll() is not None:
            raise RuntimeError(f"the server did not start:\n{log_path.read_text(errors='replace')}")
        try:
            written = json.loads(record.read_text())
            if written["pid"] != process.pid:  # another server of the home, still
                return None
            url = written["url"]
            return url if httpx.get(url + "/health", timeout=1).status_code == 200 else None
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            return None  # not written yet, being written, or not listening yet

    try:
        return wait_for(healthy, timeout, "the server to answer /health"), process
    except BaseException:
        stop_server(process)
        raise


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def require_azurite() -> None:
    """Skip without Azurite, except in CI, which must have it (the README's test command
    installs it into tools/azurite with npm ci)."""
    import pytest

    from emulator.workspace import azurite

    if REPO_AZURITE.exists():
        os.environ.setdefault("BATCH_EMULATOR_AZURITE", str(REPO_AZURITE))
    if azurite.find_executable() is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide Azurite: {azurite.INSTALL_HINT}")
        pytest.skip(f"Azurite is not installed ({azurite.INSTALL_HINT})")


def run_cli(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    """Run ``batch-emulator ARGS`` in this process: (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from emulator.cli.main import main

    with CliRunner().isolation(env=env) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue().decode(), err.getvalue().decode()
