"""``python -m emulator.jobs.host_process HOME WORKSPACE COMPUTE``: a warm compute's host.

It keeps the compute's Dask cluster (``engine.warm``) and carries the jobs invoked on it,
each in a thread of its own holding the job's runner lock, exactly as a runner process
would (slots, cancel, output claims, records). It answers requests on its socket (see
``jobs.host``) and ends on ``stop``, on SIGTERM or when its workspace is deleted; its
running jobs are then cancelled, never left Running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import dask

from emulator.engine.cluster import _QUIET
from emulator.engine.warm import WarmCluster
from emulator.exceptions import EmulatorError
from emulator.jobs import host, launch, locks
from emulator.workspace import Workspace
from emulator.workspace.store import Store

ACCEPT_POLL_SECONDS = 0.5
JOB_STOP_SECONDS = 60.0
log = logging.getLogger("emulator.host")


class Host:
    def __init__(self, workspace: Workspace, compute: str, settings: dict):
        self.workspace, self.compute = workspace, compute
        self.cluster = WarmCluster(compute, *bounds(settings))
        self.stopping = threading.Event()
        self._jobs: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- requests

    def handle(self, message: dict, fds: list[int]) -> dict:
        op = message.get("op")
        if op == "carry":
            return self.carry(str(message["job"]), fds)
        for fd in fds:  # only a carried job hands a descriptor over
            os.close(fd)
        if op == "nodes":
            return {"ok": True, "nodes": self.cluster.nodes(),
                    "dashboard_link": self.cluster.dashboard_link}
        if op == "configure":
            self.cluster.configure(*bounds(message["compute"]))
            return {"ok": True}
        if op == "stop":
            running = self.running_jobs()
            if running and not message.get("cancel_jobs"):
                return {"ok": False, "error": f"compute {self.compute} runs job(s) "
                                              f"{', '.join(running)}"}
            self.stopping.set()
            return {"ok": True, "cancelled": running}
        return {"ok": False, "error": f"unknown request {op!r}"}

    def carry(self, job_name: str, fds: list[int]) -> dict:
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return {"ok": False, "error": "a job is handed over with its runner lock"}
        if self.stopping.is_set():
            os.close(fds[0])
            return {"ok": False, "error": f"compute {self.compute} is stopping"}
        runner_lock = os.fdopen(fds[0], "ab")
        stop = threading.Event()
        thread = threading.Thread(target=self._carry, args=(job_name, runner_lock, stop),
                                  name=f"job-{job_name}", daemon=True)
        with self._lock:
            self._jobs[job_name] = (thread, stop)
        thread.start()
        return {"ok": True, "pid": os.getpid()}

    def _carry(self, job_name: str, runner_lock, stop: threading.Event) -> None:
        try:
            launch.carry_stored_job(self.workspace, job_name, stop)
        except Exception:
            log.exception("job %s failed in the host", job_name)
        finally:
            runner_lock.close()
            with self._lock:
                self._jobs.pop(job_name, None)

    def running_jobs(self) -> list[str]:
        with self._lock:
            return sorted(self._jobs)

    # ----------------------------------------------------------------- ending

    def stop_jobs(self) -> None:
        """Cancel the jobs still carried and wait for them to record Canceled."""
        with self._lock:
            jobs = list(self._jobs.values())
        for _, stop in jobs:
            stop.set()
        deadline = time.monotonic() + JOB_STOP_SECONDS
        for thread, _ in jobs:
            thread.join(max(0.0, deadline - time.monotonic()))


def bounds(settings: dict) -> tuple[int, int, float]:
    """(min_instances, max_instances, idle seconds) of a stored amlcompute."""
    return (int(settings["min_instances"]), int(settings["max_instances"]),
            float(settings["idle_time_before_scale_down"]))


def serve(workspace: Workspace, compute: str) -> int:
    where = host.folder(workspace, compute)
    where.mkdir(parents=True, exist_ok=True)
    lock = locks.hold(where / host.HOST_LOCK, blocking=False)
    if lock is None:
        print(f"the host of compute {compute} runs already", file=sys.stderr)
        return 3
    settings = Store(workspace).get("compute", compute)
    if settings is None or settings.get("type") != "amlcompute":
        print(f"compute {compute} is not an amlcompute of workspace {workspace.name}",
              file=sys.stderr)
        return 2
    with dask.config.set(_QUIET):
        try:
            hosted = Host(workspace, compute, settings)
        except EmulatorError as exc:
            print(exc, file=sys.stderr)
            return 1
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(host.socket_name(where))
        listener.listen(64)
        listener.settimeout(ACCEPT_POLL_SECONDS)
        record = host.HostRecord(pid=os.getpid(), socket=host.socket_name(where),
                                 scheduler_address=hosted.cluster.scheduler_address,
                                 dashboard_link=hosted.cluster.dashboard_link,
                                 started=time.time())
        temporary = where / f".{host.HOST_RECORD}.{os.getpid()}"
        temporary.write_text(json.dumps(record.__dict__), encoding="utf-8")
        temporary.replace(where / host.HOST_RECORD)
        signal.signal(signal.SIGTERM, lambda *_: hosted.stopping.set())
        print(f"compute {compute}: scheduler {record.scheduler_address}, dashboard "
              f"{record.dashboard_link}", flush=True)
        try:
            _accept(listener, hosted, workspace)
        finally:
            listener.close()
            hosted.stop_jobs()
            (where / host.HOST_RECORD).unlink(missing_ok=True)
            hosted.cluster.close()
            lock.close()
    return 0


def _accept(listener: socket.socket, hosted: Host, workspace: Workspace) -> None:
    while not hosted.stopping.is_set():
        if not workspace.exists():  # the home was deleted under us: nothing left to serve
            return
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        threading.Thread(target=_answer, args=(connection, hosted), daemon=True).start()


def _answer(connection: socket.socket, hosted: Host) -> None:
    with connection:
        connection.settimeout(host.REQUEST_TIMEOUT_SECONDS)
        fds: list[int] = []
        try:
            if not _same_user(connection):
                answer = {"ok": False, "error": "only the host's own user may use it"}
            else:
                data, fds, _, _ = socket.recv_fds(connection, host.MAX_MESSAGE, 4)
                answer = hosted.handle(json.loads(data or b"{}"), fds)
        except Exception as exc:  # a bad request is answered, never the host's end
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps(answer).encode())


def _same_user(connection: socket.socket) -> bool:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                        struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", credentials)
    return uid == os.getuid()


if __name__ == "__main__":
    home, workspace_name, compute_name = sys.argv[1:4]
    sys.exit(serve(Workspace(Path(home), workspace_name), compute_name))
