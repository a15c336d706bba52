"""The job's scheduler: a bounded window of lease futures, error_threshold, cancel.

Mini-batches are handed out in *leases* (one Dask task scores several mini-batches in one
warm scoring process), so the per-task cost of Dask is paid once per lease, and at most a
couple of leases per scoring process are in flight, however large the input.
"""

from __future__ import annotations

import contextlib
import math
import queue
import time
from asyncio import CancelledError
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from distributed import KilledWorker
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError

from emulator.engine import shipping, worker
from emulator.engine.cluster import Instances
from emulator.engine.tasks import Lease, LeaseResult, MiniBatch, MiniBatchResult, ScoringContext

LOST_WORKER = (KilledWorker, FutureCancelledError, CommClosedError, CancelledError, OSError,
               TimeoutError)
MAX_LEASE = 50
LEASES_PER_SLOT_IN_FLIGHT = 2
POLL_SECONDS = 0.05
# A client cut off from its scheduler reconnects on its own; a job waits this long for it,
# then fails instead of waiting for leases that no scheduler will ever finish.
SCHEDULER_LOST_SECONDS = 60.0

class Ending(Enum):
    """Why the scheduler stopped handing out mini-batches (the job's status follows from it)."""

    ALL_SCORED = "all_scored"
    ERROR_THRESHOLD = "error_threshold"
    STOPPED = "stopped"  # cancelled
    INIT_FAILED = "init_failed"  # no scoring process of any instance could initialise
    SCRIPT_INVALID = "script_invalid"
    SCHEDULER_LOST = "scheduler_lost"  # the Dask scheduler went away and did not come back


@dataclass
class Outcome:
    kind: Ending
    detail: str = ""


class LeaseScheduler:
    def __init__(
        self,
        instances: Instances,
        ctx: ScoringContext,
        mini_batches: list[MiniBatch],
        error_threshold: int,
        on_result: Callable[[MiniBatchResult, str], None],
        should_stop: Callable[[], bool],
        shipment: shipping.Shipment | None = None,
        on_returned: Callable[[tuple[tuple[str, bytes], ...]], None] = lambda returned: None,
    ):
        self.instances = instances
        self.ctx = ctx
        self.pending: deque[MiniBatch] = deque(mini_batches)
        self.error_threshold = error_threshold
        self.on_result = on_result
        self.should_stop = should_stop
        # workers that do not see this machine's files get local inputs in their leases
        self.shipment = shipment
        self.ship_inputs = shipment is not None and ctx.input_store is None
        self.on_returned = on_returned
        self.failed_files = 0
        self.slots = len(instances.addresses) * ctx.concurrency
        self.lease_size = max(1, min(MAX_LEASE, math.ceil(len(mini_batches) / (self.slots * 4))))
        self.window = self.slots * LEASES_PER_SLOT_IN_FLIGHT
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._in_flight: dict[str, object] = {}
        self._lease_numbers = iter(range(10**12))
        self._live_addresses = list(instances.addresses)
        self._cut_off_since: float | None = None
        scheduler = getattr(instances.client, "scheduler", None)
        self._scheduler_address = getattr(scheduler, "address", None) or "its address"

    def run(self) -> Outcome:
        try:
            return self._loop()
        finally:
            self._release()

    def _loop(self) -> Outcome:
        while self.pending or self._in_flight:
            self._fill_window()
            try:
                future = self._done.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if self.should_stop():
                    return self._stop(Outcome(Ending.STOPPED))
                lost = self._scheduler_lost()
                if lost is not None:
                    return lost
                continue
            outcome = self._collect(future)
            if outcome is not None:
                return self._stop(outcome)
            if self.should_stop():
                return self._stop(Outcome(Ending.STOPPED))
        return Outcome(Ending.ALL_SCORED)

    def _fill_window(self) -> None:
        client = self.instances.client
        while self.pending and len(self._in_flight) < self.window:
            batch = [self.pending.popleft() for _ in range(min(self.lease_size, len(self.pending)))]
            budget = None
            if self.error_threshold >= 0:
                budget = self.error_threshold - self.failed_files
            files = tuple(path for mini_batch in batch for path in mini_batch.files)
            lease = Lease(next(self._lease_numbers), tuple(batch), budget,
                          shipping.payload(files, self.shipment) if self.ship_inputs else ())
            future = client.submit(
                worker.score_lease, self.ctx, lease,
                key=f"lease-{self.ctx.job_name}-{lease.number}",
                workers=self._live_addresses, allow_other_workers=False, pure=False, retries=0,
            )
            future.lease = lease  # type: ignore[attr-defined]
            self._in_flight[future.key] = future
            future.add_done_callback(self._done.put)

    def _scheduler_lost(self) -> Outcome | None:
        """An outcome once the client has been cut off from its scheduler for too long."""
        client = self.instances.client
        if getattr(client, "status", "running") == "running":
            self._cut_off_since = None
            return None
        now = time.monotonic()
        if self._cut_off_since is None:
            self._cut_off_since = now
        if client.status != "closed" and now - self._cut_off_since < SCHEDULER_LOST_SECONDS:
            return None
        self._in_flight.clear()
        self.pending.clear()
        return Outcome(Ending.SCHEDULER_LOST,
                       f"lost the Dask scheduler at {self._scheduler_address} while the job "
                       "ran: it stopped answering and did not come back; start it again, then "
                       "invoke the job again")

    def _collect(self, future) -> Outcome | None:
        self._in_flight.pop(future.key, None)
        lease: Lease = future.lease
        try:
            result: LeaseResult = future.result()
        except Exception:
            self._requeue_lost(lease)
            return None
        if result.returned:
            self.on_returned(result.returned)
        for mini_batch_result in result.results:
            self.failed_files += mini_batch_result.failed
            self.on_result(mini_batch_result, result.instance)
        if result.script_invalid:
            return Outcome(Ending.SCRIPT_INVALID, result.script_invalid)
        self.pending.extendleft(reversed(result.unprocessed))
        if result.instance_dead:
            address = future_worker_address(self.instances, result.instance)
            if address in self._live_addresses:
                self._live_addresses.remove(address)
            if not self._live_addresses:
                return Outcome(Ending.INIT_FAILED, result.init_failure)
        if 0 <= self.error_threshold < self.failed_files:
            return Outcome(Ending.ERROR_THRESHOLD)
        return None

    def _requeue_lost(self, lease: Lease) -> None:
        """A lost worker costs the attempts its ledger says had started there, no more."""
        spent = worker.attempts_started(worker.ledger_path(self.ctx, lease))
        retry = [replace(mb, attempts_made=mb.attempts_made + spent.get(mb.id, 0))
                 for mb in lease.mini_batches]
        self.pending.extendleft(reversed(retry))
        with contextlib.suppress(Exception):
            workers = self.instances.client.scheduler_info(n_workers=-1)["workers"]
            live = sorted(workers)[: len(self.instances.addresses)]
            if live:
                self._live_addresses = live

    def _stop(self, outcome: Outcome) -> Outcome:
        """Kill running scoring processes and drop the leases still queued."""
        client = self.instances.client
        with contextlib.suppress(Exception):
            client.run(worker.abort_job, self.ctx.job_name, workers=self._reachable())
        futures = list(self._in_flight.values())
        with contextlib.suppress(Exception):
            client.cancel(futures)
        self._in_flight.clear()
        self.pending.clear()
        return outcome

    def _release(self) -> None:
        if getattr(self.instances.client, "status", "running") != "running":
            return  # no scheduler to ask: its workers forget the job with it
        with contextlib.suppress(Exception):
            last = self.instances.client.run(worker.release_job, self.ctx.job_name,
                                             workers=self._reachable())
            for returned in last.values():
                if returned:
                    self.on_returned(returned)

    def _reachable(self) -> list[str]:
        """This job's workers that the scheduler still knows (a lost one would cost a
        connect timeout)."""
        known = set(self.instances.client.scheduler_info(n_workers=-1)["workers"])
        return [address for address in self.instances.addresses if address in known] + \
            [a for a in self._live_addresses if a in known and a not in self.instances.addresses]


def future_worker_address(instances: Instances, instance: str) -> str | None:
    return next((a for a, name in instances.names if name == instance), None)
