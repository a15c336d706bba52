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
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

from distributed import get_worker

from emulator.engine import shipping
from emulator.engine.inprocess import InProcessScorer
from emulator.engine.scorers import InitFailed, InstanceDead, ScoringProcess, ScriptInvalid
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
from emulator.exceptions import EmulatorError
from emulator.workspace import datastores

INIT_TRIES_PER_SLOT = 3


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
        # on a worker that does not see the job's files: what to send back after each lease
        self.returns = shipping.Returns(ctx) if ctx.bundles else None
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
            kind = InProcessScorer if self.ctx.in_process else ScoringProcess
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
        with open(process.error_log, "a", encoding="utf-8", errors="surrogateescape") as log:
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
            pool = ScoringPool(shipping.localize(ctx), _instance_name(ctx))
            _POOLS[ctx.job_name] = pool
        return pool


def _instance_name(ctx: ScoringContext) -> str:
    try:
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
    try:
        pool = _pool_for(ctx)
    except EmulatorError as exc:  # a remote worker without the job's code, model or Python
        return LeaseResult(lease=replace(lease, files=()), results=[],
                           unprocessed=list(lease.mini_batches), instance=_instance_name(ctx),
                           init_failure=str(exc), instance_dead=True)
    ctx = pool.ctx  # as this worker runs it (engine.shipping.localize)
    ledger = ledger_path(ctx, lease)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    spent = attempts_started(ledger)
    if spent:
        lease = replace(lease, mini_batches=tuple(
            replace(mb, attempts_made=mb.attempts_made + spent.get(mb.id, 0))
            for mb in lease.mini_batches))
    outcome = LeaseResult(lease=replace(lease, files=()), results=[], unprocessed=[],
                          instance=pool.instance)
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
    if pool.returns is not None:
        outcome.returned = pool.returns.collect()
    return outcome


def _score_mini_batch(pool: ScoringPool, slot: Slot, mini_batch: MiniBatch,
                      lease: Lease) -> MiniBatchResult | None:
    ctx = pool.ctx
    result = MiniBatchResult(mini_batch)
    while result.attempt_count < ctx.max_attempts:
        process = slot.ready_process()
        _record_start(ledger_path(ctx, lease), mini_batch.id)
        try:
            files = _local_files(ctx, mini_batch, lease)
        except EmulatorError as exc:  # the store or URL failed: an attempt, retried like one
            attempt, rows = Attempt(RUN_EXCEPTION, process.name, time.time(), 0.0, error=(
                f"the input could not be downloaded: {exc}")), ""
        else:
            attempt, rows = process.run(files)
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


def _local_files(ctx: ScoringContext, mini_batch: MiniBatch, lease: Lease) -> tuple[str, ...]:
    """Files on object storage are downloaded to this worker first (Azure's download mode);
    local files a remote worker cannot read came with the lease."""
    if lease.files:
        sent = dict(lease.files)
        return shipping.stage_inputs(ctx, tuple((path, sent[path]) for path in mini_batch.files))
    if ctx.input_store is None:
        return mini_batch.files
    store = datastores.RemoteStore.from_dict(ctx.input_store)
    return datastores.download(store, mini_batch.files, datastores.worker_cache(ctx.job_name))


def abort_job(job_name: str) -> None:
    """Kill the job's scoring processes on this worker (``client.run``: error threshold, cancel)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(job_name)
    if pool is not None:
        pool.abort()


def release_job(job_name: str) -> tuple[tuple[str, bytes], ...]:
    """Stop the job's scoring processes on this worker once the job is over; a remote worker
    answers what they wrote last and forgets the job's folder."""
    with _POOLS_LOCK:
        pool = _POOLS.pop(job_name, None)
    datastores.drop_worker_cache(job_name)
    if pool is None:
        return ()
    if pool.aborted.is_set():
        pool.abort()
    else:
        pool.close()
    if pool.returns is None:
        return ()
    last = pool.returns.collect()
    shutil.rmtree(pool.ctx.job_dir, ignore_errors=True)
    return last
