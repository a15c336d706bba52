"""A scoring process, as the worker starts it: a child process running the standard-library
bootstrap (``emulator.scoring.bootstrap``), initialised once, asked to run mini-batches over
pipes, and killed by process group when it hangs or the job stops."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from emulator.engine.tasks import (
    PROCESS_CRASHED,
    RUN_DONE,
    RUN_EXCEPTION,
    RUN_TIMEOUT,
    Attempt,
    ScoringContext,
)
from emulator.scoring import bootstrap

BOOTSTRAP = Path(bootstrap.__file__).resolve()
SHIM_DIR = BOOTSTRAP.parent / "shim"


class InitFailed(Exception):
    def __init__(self, traceback_text: str):
        super().__init__(traceback_text)
        self.traceback_text = traceback_text


class ScriptInvalid(Exception):
    pass


class InstanceDead(Exception):
    """No slot of this instance could initialise a scoring process."""


def prepare_scorer(ctx: ScoringContext, instance: str, name: str) -> tuple[Path, Path, dict]:
    """The user log folders of a scorer, its error log, and Azure's environment variables."""
    logs = Path(ctx.job_dir) / "logs" / "user"
    for folder in ("stdout", "stderr", "error", "entry_script_log"):
        (logs / folder / instance).mkdir(parents=True, exist_ok=True)
    variables = {
        **dict(ctx.environment_variables),
        "AZUREML_MODEL_DIR": ctx.model_dir,
        "AZUREML_BI_OUTPUT_PATH": ctx.output_dir,
        "AZUREML_EMULATOR_AGENT_NAME": name,
        "AZUREML_EMULATOR_WORKING_DIR": ctx.job_dir,
        "AZUREML_EMULATOR_SCRIPT_DIR": ctx.code_dir,
        "AZUREML_EMULATOR_ENTRY_SCRIPT_LOG_DIR": str(logs / "entry_script_log" / instance),
    }
    return logs, logs / "error" / instance / f"{name}.txt", variables


class ScoringProcess:
    """One scoring process: started, initialised, asked to run mini-batches, killed."""

    def __init__(self, ctx: ScoringContext, instance: str, number: int):
        self.ctx = ctx
        self.name = f"process{number:03d}"
        logs, self.error_log, variables = prepare_scorer(ctx, instance, self.name)
        request_read, self._request_fd = os.pipe()
        self._reply_fd, reply_write = os.pipe()
        env = {
            **os.environ,
            **variables,
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            ctx.python, str(BOOTSTRAP),
            "--script", ctx.scoring_script,
            "--code-dir", ctx.code_dir,
            "--shim-dir", str(SHIM_DIR),
            "--request-fd", str(request_read),
            "--reply-fd", str(reply_write),
            "--logging-level", ctx.logging_level,
        ]
        if ctx.collect_rows:
            command.append("--collect-rows")
        if ctx.source_dir:
            command += ["--source-dir", ctx.source_dir]
        stdout = open(logs / "stdout" / instance / f"{self.name}.stdout.txt", "ab")  # noqa: SIM115
        stderr = open(logs / "stderr" / instance / f"{self.name}.stderr.txt", "ab")  # noqa: SIM115
        try:
            self.popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(request_read, reply_write),
                cwd=ctx.job_dir,
                env=env,
                start_new_session=True,  # so a kill reaches whatever run() started, too
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
            stdout.close()
            stderr.close()
        self.inits = 0

    def wait_ready(self) -> None:
        reply = self._receive(self.ctx.init_timeout)
        if reply is None:
            self.kill()
            raise InitFailed(f"init() did not finish within {self.ctx.init_timeout:.0f} seconds "
                             "(BATCH_EMULATOR_INIT_TIMEOUT, by default Azure's 3 x "
                             "retry_settings.timeout + 30)")
        if reply.get("op") == "ready":
            return
        self.kill()
        if reply.get("op") == "script_invalid":
            raise ScriptInvalid(reply["message"])
        if reply.get("op") == "init_failed":
            raise InitFailed(reply["traceback"])
        raise InitFailed(self._death_reason())

    def run(self, files: tuple[str, ...]) -> tuple[Attempt, str]:
        """One run() call: its attempt record and, when it succeeded, its results rows."""
        start = time.time()
        try:
            bootstrap.write_message(self._request_fd, {"op": "run", "mini_batch": list(files)})
        except OSError:  # it died while idle (a thread of the user's called os._exit, say)
            return Attempt(PROCESS_CRASHED, self.name, start, 0.0, error=self._death_reason()), ""
        reply = self._receive(self.ctx.timeout)
        elapsed = time.time() - start
        if reply is None:
            self.kill()
            return Attempt(RUN_TIMEOUT, self.name, start, elapsed,
                           error=f"run() did not finish within retry_settings.timeout="
                                 f"{self.ctx.timeout} s; its process was killed"), ""
        op = reply.get("op")
        if op == "done":
            return Attempt(RUN_DONE, self.name, start, elapsed, succeeded=reply["succeeded"]), reply["rows"]
        if op == "error":
            return Attempt(RUN_EXCEPTION, self.name, start, elapsed,
                           error=reply["message"], traceback=reply["traceback"]), ""
        return Attempt(PROCESS_CRASHED, self.name, start, elapsed, error=self._death_reason()), ""

    def _receive(self, timeout: float) -> dict | None:
        """The next reply; ``{"op": "died"}`` if the process ended; None on timeout."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._reply_fd, selectors.EVENT_READ)
            if not selector.select(timeout):
                return None
        try:
            reply = bootstrap.read_message(self._reply_fd)
        except OSError:
            reply = None
        return reply if reply is not None else {"op": "died"}

    def _death_reason(self) -> str:
        try:
            code = self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.popen.returncode
        if code is not None and code < 0:
            return f"scoring process {self.name} was killed by signal {signal.Signals(-code).name}"
        return f"scoring process {self.name} exited with code {code} while running"

    def kill(self) -> None:
        if self.popen.poll() is None:
            # What run() started, even in a session of its own: the scoring process adopts
            # orphans (a child subreaper), so every one is a descendant; then its group.
            for pid in descendants(self.popen.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)
        self.close_pipes()

    def stop(self) -> None:
        """Ask politely (pipe closed), then kill."""
        self.close_pipes()
        try:
            self.popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()

    def close_pipes(self) -> None:
        for fd in (self._request_fd, self._reply_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._request_fd = self._reply_fd = -1


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``; elsewhere none: the group kill stays)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                parent = int(file.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found
