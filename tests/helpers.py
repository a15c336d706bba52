"""The tests' helpers, in one place: waiting on a condition with a deadline, the fixture
folders, trace files, processes, the CLI in this process, a server in its own process, and
headless Chromium for the pages."""

from __future__ import annotations

import contextlib
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


def wait_for_workers(address: str, count: int, what: str, timeout: float = 90) -> list[str]:
    """The addresses of a Dask scheduler's workers, once ``count`` of them have joined."""
    from distributed import Client  # Dask, for the tests that start their own scheduler

    def joined() -> list[str] | None:
        try:
            with Client(address, timeout=5) as client:
                workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        except OSError:
            return None
        return workers if len(workers) == count else None

    return wait_for(joined, timeout, what)


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


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--disable-background-networking", "--disable-sync",
                  "--disable-component-update", "--disable-quic", "--hide-scrollbars",
                  "--remote-debugging-port=0", "--window-size=1300,1600")


def find_chromium() -> str | None:
    """Debian's chromium, else another Chromium on PATH; None outside CI means skip."""
    import shutil

    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


def require_chromium() -> str:
    """The browser's path; skip without one, except in CI, whose .ci/run installs it."""
    import pytest

    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            raise AssertionError("CI must have Chromium: .ci/run installs Debian's chromium")
        pytest.skip("no Chromium here: 'apt-get install chromium' runs the Studio's browser tests")
    return path


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page): open a URL, evaluate
    JavaScript in it, save a screenshot. A real browser, so CSS, CSP and scripts all apply."""

    def __init__(self, binary: str, profile: Path):
        import httpx
        from websockets.sync.client import connect

        profile.mkdir(parents=True, exist_ok=True)
        self._log = open(profile.parent / f"{profile.name}-chromium.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                         "about:blank"], stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=self._log)
        active = profile / "DevToolsActivePort"  # Chromium writes its port here
        port = wait_for(lambda: active.exists() and active.read_text().split("\n")[0].strip(),
                        60, "Chromium's DevTools port")
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(target for target in pages if target["type"] == "page")
        self._connection = contextlib.ExitStack()
        self._socket = self._connection.enter_context(connect(
            page["webSocketDebuggerUrl"], max_size=None, open_timeout=30))
        self._next = 0

    def call(self, method: str, **params) -> dict:
        self._next += 1
        self._socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:  # events arrive between the answers; only ours matters
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        wait_for(lambda: self.evaluate("document.readyState") == "complete"
                 and self.evaluate("location.href") == url, 30, f"{url} to load")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        import base64

        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"],
                               "height": size["height"], "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        self._connection.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
