"""Launching a prepared job and following its runner: a process of its own (``invoke``: the
job outlives the CLI), or a thread of this process (the Python API, the pytest plugin).

Whoever carries a job holds an exclusive lock on ``<job>/runner.lock`` for as long as it
runs, queued time included, so :func:`runner_alive` tells a live runner from a dead one
(killed, machine rebooted) without trusting pids. A runner process inherits the lock from
the process that launched it, so it is held from the moment the job is in the store.
At most ``settings.max_running_jobs()`` runner processes of a home run at once; the others
wait for a slot, ``Queued``, and can be cancelled while they wait.

The slots are ``filelock`` locks; the runner lock is a ``flock`` (``jobs.locks``): the one
kind a runner process inherits and a compute's host can be handed over a Unix socket. A job
on a warm compute is carried by that compute's host process (``jobs.host``), already running
with Dask imported, instead of a runner process of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from emulator import settings
from emulator.engine.outputs import partial_path
from emulator.exceptions import EmulatorError, ValidationError
from emulator.jobs import host, locks
from emulator.jobs.claims import release_output
from emulator.jobs.pipeline import KIND as PIPELINE
from emulator.jobs.pipeline import PipelinePlan
from emulator.jobs.plan import JobPlan
from emulator.jobs.record import JobRecord, JobStatus
from emulator.workspace import Workspace
from emulator.workspace.store import Store

PLAN_FILE = "plan.json"
RUNNER_LOG = "runner.log"
RUNNER_LOCK = "runner.lock"
CANCEL_FILE = "cancel_requested"
SLOT_POLL_SECONDS = 0.1

_SPAWNED: set[subprocess.Popen] = set()  # reaped on each spawn: no zombies in a long server


class BatchJob:
    """A job carried by a thread of this process: ``record`` (live), ``wait``, ``cancel``."""

    def __init__(self, store: Store, plan: JobPlan, record: JobRecord, body: dict,
                 lock: IO):
        self.plan, self.record = plan, record
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store, body, lock),
                                        name=f"job-{record.name}", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self.record.name

    def _run(self, store: Store, body: dict, lock: IO) -> None:
        try:
            run_stored_job(store, self.plan, self.record, body, self._stop.is_set)
        finally:
            lock.close()

    def cancel(self) -> None:
        """Stop the job: running scoring processes are killed, no results file is left."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> JobRecord:
        """The final record; ``TimeoutError`` if the job is still running after ``timeout``."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"job {self.name} still {self.record.status} after {timeout} s")
        return self.record


def launch(store: Store, plan: JobPlan | PipelinePlan, record: JobRecord, body: dict,
           in_thread: bool) -> BatchJob | None:
    """Record the job in the store and start carrying it; the thread's handle, if any.
    ``body`` is what the store keeps beside the record (compute, input type, creator)."""
    job_dir = plan.job_dir
    (job_dir / PLAN_FILE).write_text(json.dumps(plan.to_dict(), indent=2), encoding="utf-8")
    record.save()
    lock = locks.hold(job_dir / RUNNER_LOCK)
    try:
        body = {**body, "record": record.to_dict()}
        if not store.insert_job(record.name, record.endpoint_name, record.deployment_name,
                                record.status, body):
            raise ValidationError(f"a job named {record.name!r} already exists in workspace "
                                  f"{store.workspace.name!r}; choose another --job-name")
        if in_thread:
            store.set_job_runner(record.name, os.getpid())
            return BatchJob(store, plan, record, body, lock)
        warm_compute = plan.cluster.warm_compute
        if warm_compute is None:
            pid = _spawn(store.workspace, job_dir, record.name, lock)
        else:
            pid = _hand_to_host(store, plan, record, warm_compute, lock)
        store.set_job_runner(record.name, pid)
        return None
    finally:
        if not in_thread:
            lock.close()  # the runner process holds its own copy of the lock


def run_stored_job(store: Store, plan: JobPlan | PipelinePlan, record: JobRecord, body: dict,
                   stopped: Callable[[], bool]) -> JobRecord:
    """Run a stored job (a batch job or a pipeline job) to its end, recording each status
    (of the job and of a pipeline's steps) in the store and in job.json."""

    def save(job: JobRecord) -> None:
        job.save()
        store.update_job(job.name, job.status, job.to_dict())

    # The engine (Dask, the scoring processes) is imported by whoever carries a job, never
    # by a read of the store: `job show` stays fast.
    from emulator.jobs.execute import execute
    from emulator.jobs.pipeline import execute_pipeline

    carry = execute_pipeline if isinstance(plan, PipelinePlan) else execute
    return carry(plan, record, lambda: stopped() or cancel_requested(plan.job_dir), save)


def load_plan(job_dir: Path) -> JobPlan | PipelinePlan:
    values = json.loads((job_dir / PLAN_FILE).read_text(encoding="utf-8"))
    return PipelinePlan.from_dict(values) if values.get("kind") == PIPELINE else \
        JobPlan.from_dict(values)


def abandon(job_dir: str | Path) -> None:
    """What a dead runner held is let go: its output claim and its partial results file."""
    try:
        plan = load_plan(Path(job_dir))
    except (OSError, ValueError, KeyError, TypeError):
        return
    if isinstance(plan, PipelinePlan):  # its steps hold no claim; their outputs stay
        return
    release_output(plan.output, plan.settings, plan.job_name)
    partial_path(plan.output_dir, plan.settings.output_file_name, plan.job_name).unlink(
        missing_ok=True)


def request_cancel(job_dir: str | Path) -> None:
    """Ask the job's runner, in whatever process, to stop; it polls for this file."""
    (Path(job_dir) / CANCEL_FILE).touch()


def cancel_requested(job_dir: Path) -> bool:
    return (job_dir / CANCEL_FILE).exists()


def runner_alive(job_dir: str | Path) -> bool:
    """True while someone carries the job (holds its runner lock)."""
    return locks.held(Path(job_dir) / RUNNER_LOCK)


def _hand_to_host(store: Store, plan, record: JobRecord, compute: str, lock: IO) -> int:
    """The warm compute's host carries the job; when it cannot be started the job is
    recorded Failed with the reason, which is raised too."""
    try:
        pid = host.carry(store.workspace, compute, record.name, lock)
    except EmulatorError as exc:
        record.error = str(exc)
        record.set_status(JobStatus.FAILED)
        record.save()
        store.update_job(record.name, record.status, record.to_dict())
        abandon(plan.job_dir)
        raise
    with open(plan.job_dir / RUNNER_LOG, "a", encoding="utf-8") as log:
        log.write(f"carried by the host of compute {compute} (pid {pid}); its log: "
                  f"{host.folder(store.workspace, compute) / host.HOST_LOG}\n")
    return pid


def _spawn(workspace: Workspace, job_dir: Path, job_name: str, lock: IO) -> int:
    for process in list(_SPAWNED):
        if process.poll() is not None:
            _SPAWNED.discard(process)
    log = open(job_dir / RUNNER_LOG, "ab")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator.jobs", str(workspace.home), workspace.name,
             job_name, str(lock.fileno())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            cwd=job_dir, close_fds=True, pass_fds=(lock.fileno(),))
    finally:
        log.close()
    _SPAWNED.add(process)
    return process.pid


def wait_for_slot(home: Path, job_dir: Path):
    """An exclusive lock on one of ``max_running_jobs()`` slot files, held until the runner
    exits; None when the job was cancelled while it waited."""
    from filelock import FileLock, Timeout  # a runner's own import: reads skip it

    slots = home / "runner-slots"
    slots.mkdir(parents=True, exist_ok=True)
    while True:
        for number in range(settings.max_running_jobs()):
            slot = FileLock(slots / f"slot-{number}.lock")
            try:
                slot.acquire(blocking=False)
            except Timeout:
                continue
            return slot
        if cancel_requested(job_dir):
            return None
        time.sleep(SLOT_POLL_SECONDS)


def carry_stored_job(workspace: Workspace, job_name: str, stop: threading.Event) -> JobRecord | None:
    """Wait for a runner slot, then carry the stored job to its end (a runner process, or a
    thread of a compute's host); None when the job is not in the store."""
    job_dir = workspace.job_dir(job_name)
    slot = wait_for_slot(workspace.home, job_dir)
    try:
        store = Store(workspace)
        found = store.get_job(job_name)
        if found is None:
            print(f"job {job_name} is not in the store of {workspace.root}", file=sys.stderr)
            return None
        body = found[0]
        record = JobRecord.from_dict(body["record"])
        if slot is None:  # cancelled while Queued
            record.set_status(JobStatus.CANCELED)
            record.save()
            store.update_job(job_name, record.status, record.to_dict())
            return record
        return run_stored_job(store, load_plan(job_dir), record, body, stop.is_set)
    finally:
        if slot is not None:
            slot.release()


def run_runner_process(home: str, workspace_name: str, job_name: str) -> int:
    """The runner process of one job; SIGTERM (e.g. a shutdown) cancels the job cleanly
    instead of leaving it half done."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    record = carry_stored_job(Workspace(Path(home), workspace_name), job_name, stop)
    if record is None:
        return 2
    return 0 if record.status == JobStatus.COMPLETED else 1
