"""The Dask-worker side: a pool of scoring processes per job, and the lease task.

A Dask worker is one Azure *instance*. For each job it owns ``max_concurrency_per_instance``
scoring processes (children started with ``subprocess``, since Dask's worker processes are
daemonic and may not use ``multiprocessing``). A lease checks out one process slot and
scores its mini-batches there; retries, the ``run()`` timeout and accounting happen here,
so a Dask task carries many mini-batches and the scheduler stays lightly loaded.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

from emulator.engine.tasks import (
    NOT_RUN,
    PROCESS_CRASHED,
    RUN_DONE,
    RUN_EXCEPTION,
    RUN_TIMEOUT,
    Attempt,
    Lease,
    LeaseResult,
    MiniBatch,
    MiniBatchResult,
    ScoringContext,
)
from emulator.scoring import bootstrap

BOOTSTRAP = Path(bootstrap.__file__).resolve()
SHIM_DIR = BOOTSTRAP.parent / "shim"
INIT_TRIES_PER_SLOT = 3


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
                             "(3 x retry_settings.timeout + 30)")
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


class Slot:
    """A place for one scoring process; replaced processes keep the slot."""

    def __init__(self, pool: ScoringPool, index: int):
        self.pool = pool
        self.index = index
        self.process: ScoringProcess | None = None
        self.init_failures = 0
        self.dead = False

    def ready_process(self) -> ScoringProcess:
        while self.process is None:
            process = self.pool.spawn()
            try:
                process.wait_ready()
            except InitFailed as exc:
                self.pool.log_error(process, f"init() failed (attempt {self.init_failures + 1} "
                                             f"of {INIT_TRIES_PER_SLOT} for this process slot)",
                                    exc.traceback_text)
                self.init_failures += 1
                self.pool.last_init_failure = exc.traceback_text
                if self.init_failures >= INIT_TRIES_PER_SLOT:
                    self.dead = True
                    raise
                if self.pool.aborted.is_set():
                    raise
                continue
            self.process = process
        return self.process

    def discard_process(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None


class ScoringPool:
    """The scoring processes of one job on one instance (Dask worker)."""

    def __init__(self, ctx: ScoringContext, instance: str):
        self.ctx = ctx
        self.instance = instance
        self.aborted = threading.Event()
        self._numbers = iter(range(10**6))
        self._lock = threading.Lock()
        self._live: set[ScoringProcess] = set()
        self._free: queue.LifoQueue[Slot] = queue.LifoQueue()
        self.live_slots = ctx.concurrency
        self.last_init_failure = ""
        for index in range(ctx.concurrency):
            self._free.put(Slot(self, index))

    def spawn(self) -> ScoringProcess:
        with self._lock:
            if self.aborted.is_set():
                raise InitFailed("the job was stopped")
            kind = ScoringProcess
            if self.ctx.in_process:
                from emulator.engine.inprocess import InProcessScorer as kind
            process = kind(self.ctx, self.instance, next(self._numbers))
            self._live.add(process)
            return process

    @contextlib.contextmanager
    def checkout(self):
        """A free slot; ``InstanceDead`` once every slot gave up on init()."""
        while True:
            try:
                slot = self._free.get(timeout=0.2)
                break
            except queue.Empty:
                if self.live_slots == 0 or self.aborted.is_set():
                    raise InstanceDead(self.last_init_failure) from None
        try:
            yield slot
        finally:
            if slot.dead:
                with self._lock:
                    self.live_slots -= 1
            else:
                self._free.put(slot)

    def log_error(self, process: ScoringProcess, headline: str, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        with open(process.error_log, "a", encoding="utf-8") as log:
            log.write(f"{stamp} {headline}\n{text.rstrip()}\n\n")

    def abort(self) -> None:
        self.aborted.set()
        with self._lock:
            for process in self._live:
                process.kill()
            self._live.clear()

    def close(self) -> None:
        with self._lock:
            for process in self._live:
                process.stop()
            self._live.clear()


_POOLS: dict[str, ScoringPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool_for(ctx: ScoringContext) -> ScoringPool:
    with _POOLS_LOCK:
        pool = _POOLS.get(ctx.job_name)
        if pool is None:
            pool = ScoringPool(ctx, _instance_name(ctx))
            _POOLS[ctx.job_name] = pool
        return pool


def _instance_name(ctx: ScoringContext) -> str:
    try:
        from distributed import get_worker

        address = get_worker().address
    except ValueError:  # not inside a Dask worker (in-process scoring)
        return "instance-0"
    return dict(ctx.instance_names).get(address, "instance-" + address.rsplit(":", 1)[-1])


def ledger_path(ctx: ScoringContext, lease: Lease) -> Path:
    return Path(ctx.job_dir) / "leases" / f"lease-{lease.number}.log"


def attempts_started(ledger: Path) -> dict[int, int]:
    """Mini-batch id -> attempts a (possibly lost) run of this lease started."""
    counts: dict[int, int] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in ledger.read_text().split():
            counts[int(line)] = counts.get(int(line), 0) + 1
    return counts


def _record_start(ledger: Path, mini_batch_id: int) -> None:
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{mini_batch_id}\n".encode())
    finally:
        os.close(fd)


def score_lease(ctx: ScoringContext, lease: Lease) -> LeaseResult:
    """The Dask task: score the lease's mini-batches in one scoring process of this instance.

    Every attempt is written to the lease's ledger before it starts, so when a worker is lost
    and Dask runs the lease again elsewhere, the attempts spent on the lost worker still count.
    """
    ledger = ledger_path(ctx, lease)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    spent = attempts_started(ledger)
    if spent:
        lease = replace(lease, mini_batches=tuple(
            replace(mb, attempts_made=mb.attempts_made + spent.get(mb.id, 0))
            for mb in lease.mini_batches))
    pool = _pool_for(ctx)
    outcome = LeaseResult(lease=lease, results=[], unprocessed=[], instance=pool.instance)
    failed_files = 0
    position = 0
    try:
        with pool.checkout() as slot:
            for position, mini_batch in enumerate(lease.mini_batches):
                if pool.aborted.is_set():
                    break
                result = _score_mini_batch(pool, slot, mini_batch, lease)
                if result is None:  # aborted while running
                    break
                outcome.results.append(result)
                failed_files += result.failed
                if lease.failure_budget is not None and failed_files > lease.failure_budget:
                    position += 1
                    break
            else:
                position = len(lease.mini_batches)
    except (InitFailed, InstanceDead) as exc:
        if not pool.aborted.is_set():
            outcome.init_failure = str(exc) or pool.last_init_failure
            outcome.instance_dead = pool.live_slots == 0
    except ScriptInvalid as exc:
        outcome.script_invalid = str(exc)
    outcome.unprocessed = list(lease.mini_batches[position:])
    return outcome


def _score_mini_batch(pool: ScoringPool, slot: Slot, mini_batch: MiniBatch,
                      lease: Lease) -> MiniBatchResult | None:
    ctx = pool.ctx
    result = MiniBatchResult(mini_batch)
    while result.attempt_count < ctx.max_attempts:
        process = slot.ready_process()
        _record_start(ledger_path(ctx, lease), mini_batch.id)
        attempt, rows = process.run(_local_files(ctx, mini_batch))
        if pool.aborted.is_set():
            return None
        result.attempts.append(attempt)
        if attempt.status == RUN_DONE:
            result.rows = rows
            return result
        headline = (f"mini-batch {mini_batch.id} attempt {result.attempt_count} of "
                    f"{ctx.max_attempts}: {attempt.status}: {attempt.error}")
        pool.log_error(process, headline, attempt.traceback or attempt.error)
        if attempt.status in (RUN_TIMEOUT, PROCESS_CRASHED):
            slot.discard_process()
    if not result.attempts:  # every attempt was spent elsewhere (lost workers)
        result.attempts.append(Attempt(NOT_RUN, "", time.time(), 0.0,
                                       error="no attempts left after losing its instance"))
    return result


def _local_files(ctx: ScoringContext, mini_batch: MiniBatch) -> tuple[str, ...]:
    """Files on object storage are downloaded to this worker first (Azure's download mode)."""
    if ctx.input_store is None:
        return mini_batch.files
    from emulator import datastores

    store = datastores.RemoteStore.from_dict(ctx.input_store)
    return datastores.download(store, mini_batch.files, datastores.worker_cache(ctx.job_name))


def abort_job(job_name: str) -> None:
    """Kill the job's scoring processes on this worker (``client.run``: error threshold, cancel)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(job_name)
    if pool is not None:
        pool.abort()


def release_job(job_name: str) -> None:
    """Stop the job's scoring processes on this worker once the job is over."""
    with _POOLS_LOCK:
        pool = _POOLS.pop(job_name, None)
    from emulator.datastores import drop_worker_cache

    drop_worker_cache(job_name)
    if pool is None:
        return
    if pool.aborted.is_set():
        pool.abort()
    else:
        pool.close()
