"""One process per job: it carries the job to its end even after the CLI that invoked it exits.

``spawn`` starts ``python -m emulator.job_runner <home> <workspace> <job>`` in a session of
its own; the process reads ``<job>/plan.json``, runs the engine and records every status in
the workspace store and in ``job.json``. ``runner_alive`` lets readers notice a runner that
died (killed, machine rebooted) so its job is shown Failed instead of Running forever.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.workspace import Workspace

if TYPE_CHECKING:
    from emulator.engine.record import JobRecord
    from emulator.engine.runner import JobPlan
    from emulator.store import Store

PLAN_FILE = "plan.json"
RUNNER_LOG = "runner.log"


_RUNNING: set[subprocess.Popen] = set()  # reaped on each spawn: no zombies in a long server


def spawn(workspace: Workspace, job_dir: Path, job_name: str) -> int:
    for process in list(_RUNNING):
        if process.poll() is not None:
            _RUNNING.discard(process)
    log = open(job_dir / RUNNER_LOG, "ab")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator.job_runner", str(workspace.home), workspace.name,
             job_name],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            cwd=job_dir, close_fds=True)
    finally:
        log.close()
    _RUNNING.add(process)
    return process.pid


def runner_alive(pid: int | None, job_name: str) -> bool:
    """True if ``pid`` is still this job's runner (a reused pid does not count)."""
    if pid is None or pid == os.getpid():
        return True  # not spawned yet, or a job running in a thread of this very process
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False
        if not any(a == job_name.encode() for a in arguments):
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def max_running_jobs() -> int:
    """Jobs of one home that run at once; later ones stay Queued until a slot frees up."""
    configured = os.environ.get("BATCH_EMULATOR_MAX_RUNNING_JOBS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else \
        max(2, os.cpu_count() or 2)


def wait_for_slot(home: Path, job_dir: Path, poll: float = 0.1):
    """An exclusive lock on one of ``max_running_jobs()`` slot files, held until exit; None
    when the job was cancelled while it waited."""
    import fcntl
    import time

    slots = home / "runner-slots"
    slots.mkdir(parents=True, exist_ok=True)
    while True:
        for number in range(max_running_jobs()):
            handle = open(slots / f"slot-{number}.lock", "w")  # noqa: SIM115 - held for the run
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            return handle
        if (job_dir / "cancel_requested").exists():
            return None
        time.sleep(poll)


def main(argv: list[str]) -> int:
    home, workspace_name, job_name = argv
    workspace = Workspace(Path(home), workspace_name)
    job_dir = workspace.job_dir(job_name)
    slot = wait_for_slot(workspace.home, job_dir)

    from emulator.engine.record import JobRecord
    from emulator.engine.runner import JobPlan
    from emulator.store import Store

    store = Store(workspace)
    found = store.get_job(job_name)
    if found is not None and slot is None:  # cancelled while Queued
        record = JobRecord.from_dict(found[0]["record"])
        record.set_status("Canceled")
        record.save()
        store.update_job(job_name, record.status, {**found[0], "record": record.to_dict()})
        return 1
    plan = JobPlan.from_dict(json.loads((job_dir / PLAN_FILE).read_text(encoding="utf-8")))
    if found is None:
        print(f"job {job_name} is not in the store of {workspace.root}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # SIGTERM (e.g. a shutdown) cancels the job cleanly instead of leaving it half done.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    record = run_plan(store, plan, found[0], stop)
    return 0 if record.status == "Completed" else 1


def run_plan(store: Store, plan: JobPlan, body: dict, stop: threading.Event) -> JobRecord:
    """Run a stored job to its end, recording each status in the store and in job.json."""
    from emulator.engine.record import JobRecord
    from emulator.engine.runner import execute

    cancel_file = plan.job_dir / "cancel_requested"

    def save(job: JobRecord) -> None:
        job.save()
        store.update_job(job.name, job.status, {**body, "record": job.to_dict()})

    record = JobRecord.from_dict(body["record"])
    return execute(plan, record, lambda: stop.is_set() or cancel_file.exists(), save)


def start_thread(store: Store, plan: JobPlan, body: dict) -> threading.Thread:
    """Run the job in a thread of this process instead (the pytest plugin does)."""
    thread = threading.Thread(target=run_plan, args=(store, plan, body, threading.Event()),
                              name=f"job-{plan.job_name}", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
