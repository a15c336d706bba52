"""A warm compute's host process, as the rest of the package sees it: found, started, asked.

A warm compute (``amlcompute`` with ``min_instances`` above 0, or one started with
``compute start``) has one host process per home: ``python -m emulator.jobs.host_process``,
which keeps the compute's Dask cluster (``engine.warm``) and carries the jobs invoked on it
in threads, with Dask already imported. It lives in ``<workspace>/computes/<compute>/``:

- ``host.lock``: held by the host for its whole life, so a dead host is told without
  trusting pids (``jobs.locks``);
- ``host.json``: its pid, socket, scheduler address and dashboard, written once it serves;
- ``start.lock``: taken by whoever starts it, so two commands racing start one host;
- ``host.log``: what it prints.

Requests go over a Unix socket in the abstract namespace (no path-length limit, nothing
left on disk; the host answers only processes of its own user), one JSON message each. A
job is handed over with its runner lock (``SCM_RIGHTS``), so the lock that says "someone
carries this job" is held without a gap from the invoke to the job's end.

Nothing here imports Dask: the CLI uses this module on every invoke.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from emulator.exceptions import ClusterError
from emulator.jobs import locks
from emulator.workspace import Workspace

HOST_LOCK, HOST_RECORD, START_LOCK, HOST_LOG = "host.lock", "host.json", "start.lock", "host.log"
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.02
MAX_MESSAGE = 1 << 20

_STARTED: set[subprocess.Popen] = set()  # kept (and reaped) so no host is a zombie of ours


@dataclass(frozen=True)
class HostRecord:
    pid: int
    socket: str
    scheduler_address: str
    dashboard_link: str
    started: float


def folder(workspace: Workspace, compute: str) -> Path:
    return workspace.root / "computes" / compute


def socket_name(host_folder: Path) -> str:
    """The abstract socket of the host of ``host_folder``: one per compute of a home."""
    digest = hashlib.sha256(str(host_folder.resolve()).encode()).hexdigest()[:32]
    return f"\0batch-emulator-{digest}"


def running(workspace: Workspace, compute: str) -> HostRecord | None:
    """The compute's live host, or None (a dead one's leftovers are cleaned up)."""
    where = folder(workspace, compute)
    if not locks.held(where / HOST_LOCK):
        _clean_up_after(where)
        return None
    return _read_record(where)


def ensure(workspace: Workspace, compute: str) -> HostRecord:
    """The compute's host, started if it is not running; one host however many race."""
    record = running(workspace, compute)
    if record is not None:
        return record
    from filelock import FileLock  # only when a host is started

    where = folder(workspace, compute)
    where.mkdir(parents=True, exist_ok=True)
    with FileLock(where / START_LOCK, timeout=START_TIMEOUT_SECONDS):
        record = running(workspace, compute)
        if record is not None:
            return record
        return _start(workspace, compute, where)


def carry(workspace: Workspace, compute: str, job_name: str, runner_lock: IO) -> int:
    """Hand a stored job and its runner lock to the compute's host (started if need be);
    the host's pid. A host that died since it was found is started again, once."""
    for attempt in range(2):
        record = ensure(workspace, compute)
        try:
            request(record, {"op": "carry", "job": job_name}, fds=[runner_lock.fileno()])
            return record.pid
        except ClusterError:
            if attempt or running(workspace, compute) is not None:
                raise
    raise AssertionError("unreachable")


def request(record: HostRecord, message: dict, fds: list[int] = (),  # type: ignore[assignment]
            timeout: float = REQUEST_TIMEOUT_SECONDS) -> dict:
    """Send one request to a host and return its answer; ``ClusterError`` when it cannot be
    reached or refuses."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(record.socket)
            socket.send_fds(connection, [json.dumps(message).encode()], list(fds))
            connection.shutdown(socket.SHUT_WR)
            answer = json.loads(_read_all(connection) or b"{}")
    except (OSError, ValueError) as exc:
        raise ClusterError(f"the compute host (pid {record.pid}) did not answer: {exc}; "
                           "it is restarted by the next job") from None
    if not answer.get("ok"):
        raise ClusterError(answer.get("error") or "the compute host refused the request")
    return answer


def stop(workspace: Workspace, compute: str, cancel_jobs: bool) -> bool:
    """Stop the compute's host (its running jobs are cancelled when ``cancel_jobs``); False
    when none was running. A host that does not stop in time is killed."""
    record = running(workspace, compute)
    if record is None:
        return False
    where = folder(workspace, compute)
    with contextlib.suppress(ClusterError):
        request(record, {"op": "stop", "cancel_jobs": cancel_jobs},
                timeout=STOP_TIMEOUT_SECONDS)
    if not _wait(lambda: not locks.held(where / HOST_LOCK), STOP_TIMEOUT_SECONDS):
        _kill_group(record.pid)
        _wait(lambda: not locks.held(where / HOST_LOCK), 10)
    _clean_up_after(where)
    _reap()
    return True


def _reap() -> None:
    _STARTED.difference_update([p for p in _STARTED if p.poll() is not None])


def _start(workspace: Workspace, compute: str, where: Path) -> HostRecord:
    (where / HOST_RECORD).unlink(missing_ok=True)
    with open(where / HOST_LOG, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator.jobs.host_process", str(workspace.home),
             workspace.name, compute],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            cwd=where, close_fds=True)
    _reap()
    _STARTED.add(process)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        record = _read_record(where)
        if record is not None and record.pid == process.pid:
            return record
        if process.poll() is not None:
            raise ClusterError(f"the Dask cluster of compute {compute} did not start: "
                               f"{_last_line(where / HOST_LOG)}; see {where / HOST_LOG}")
        time.sleep(POLL_SECONDS)
    _kill_group(process.pid)
    raise ClusterError(f"the Dask cluster of compute {compute} did not start in "
                       f"{START_TIMEOUT_SECONDS:.0f} s; see {where / HOST_LOG}")


def _read_record(where: Path) -> HostRecord | None:
    try:
        return HostRecord(**json.loads((where / HOST_RECORD).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _clean_up_after(where: Path) -> None:
    """A host that died (killed, out of memory) leaves its record and maybe its Dask
    workers, which are in its process group: both go."""
    record = _read_record(where)
    if record is None:
        return
    _kill_group(record.pid)
    (where / HOST_RECORD).unlink(missing_ok=True)


def _kill_group(pid: int) -> None:
    """Kill what is left of a host's process group: only processes of ours (a Python
    running the emulator or Dask's spawned workers), never a stranger that reused the id."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            group = int(stat[stat.rindex(")") + 2:].split()[2])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if group == pid and (b"emulator" in command or b"multiprocessing" in command):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


def _read_all(connection: socket.socket) -> bytes:
    chunks, size = [], 0
    while size < MAX_MESSAGE:
        chunk = connection.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "no log"
