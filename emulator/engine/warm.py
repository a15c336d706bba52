"""A compute's warm Dask cluster, as AmlCompute keeps nodes: ``min_instances`` workers stay,
jobs get theirs up to ``max_instances``, and idle workers go after
``idle_time_before_scale_down``.

The scaling is Dask's ``Adaptive``. A job does not wait for Dask to guess its needs from
task durations (its leases are pinned to its instances, so Dask would never see them
queue): it declares them, as an Azure job asks for ``instance_count`` nodes, by raising the
adaptive minimum while it runs. Adaptive scales up to it, and after the job, retires idle
workers once they have been idle for ``wait_count`` intervals. A worker is one job's at a
time, as an Azure node is; a job waits for free workers while the compute is full.

Lives in the compute host process (``emulator.jobs.host_process``); ``job_instances`` finds
it with :func:`running`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterator

from distributed import Client, LocalCluster

from emulator.engine.cluster import LOOPBACK_DASHBOARD, Instances
from emulator.exceptions import ClusterError

# A worker serves one job at a time with as many lease threads as that job has scoring
# processes; threads that wait cost nothing, so a warm worker has enough for any deployment.
WORKER_THREADS = 64
ADAPT_INTERVAL_SECONDS = 0.5
# Dask must not scale on its own estimate of task durations (see the module's docstring).
TARGET_DURATION = "24h"
WAIT_POLL_SECONDS = 0.05

_running: dict[str, WarmCluster] = {}


def running(compute: str) -> WarmCluster | None:
    """The warm cluster of ``compute`` if this process hosts it."""
    return _running.get(compute)


class WarmCluster:
    def __init__(self, compute: str, min_instances: int, max_instances: int,
                 idle_seconds: float):
        self.compute = compute
        try:
            self.cluster = LocalCluster(n_workers=min_instances, threads_per_worker=WORKER_THREADS,
                                        processes=True, dashboard_address=LOOPBACK_DASHBOARD,
                                        memory_limit=0, silence_logs=logging.ERROR)
        except Exception as exc:
            raise ClusterError(f"could not start the Dask cluster of compute {compute}: "
                               f"{exc}") from exc
        self.client = Client(self.cluster, set_as_default=False)
        self._lock = threading.Lock()
        self._demand: dict[str, int] = {}  # job -> instances it asked for
        self._leased: dict[str, str] = {}  # worker address -> job
        self.adaptive = None
        self.configure(min_instances, max_instances, idle_seconds)
        _running[compute] = self

    def configure(self, min_instances: int, max_instances: int, idle_seconds: float) -> None:
        """New bounds (``compute create`` on a running compute); running jobs keep theirs."""
        self.min_instances, self.max_instances = min_instances, max_instances
        self.idle_seconds = idle_seconds
        self.adaptive = self.cluster.adapt(
            minimum=min_instances, maximum=max_instances, interval=f"{ADAPT_INTERVAL_SECONDS}s",
            wait_count=max(1, math.ceil(idle_seconds / ADAPT_INTERVAL_SECONDS)),
            target_duration=TARGET_DURATION)
        self._retarget()

    @property
    def scheduler_address(self) -> str:
        return self.cluster.scheduler_address

    @property
    def dashboard_link(self) -> str:
        return self.client.dashboard_link

    def nodes(self) -> list[dict]:
        """The workers, as ``az ml compute list-nodes`` shows nodes."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        with self._lock:
            leased = dict(self._leased)
        return [{"node_id": info.get("name", address), "private_ip_address": address,
                 "node_state": "running" if address in leased else "idle",
                 "run_id": leased.get(address)} for address, info in sorted(workers.items())]

    @contextlib.contextmanager
    def instances(self, job_name: str, count: int, notices: list[str], should_stop,
                  timeout: float) -> Iterator[Instances | None]:
        """``count`` workers of this job's alone until the block ends (None: stopped while
        it waited for them)."""
        if count > self.max_instances:
            notices.append(f"instance_count={count} but compute {self.compute} has "
                           f"max_instances={self.max_instances}; using {self.max_instances}")
            count = self.max_instances
        with self._lock:
            self._demand[job_name] = count
            self._retarget()
        try:
            chosen = self._wait_for_free(job_name, count, should_stop, timeout)
            if chosen is None:
                yield None
                return
            yield Instances(client=self.client, addresses=chosen, threads=WORKER_THREADS)
        finally:
            with self._lock:
                self._demand.pop(job_name, None)
                for address in [a for a, job in self._leased.items() if job == job_name]:
                    del self._leased[address]
                self._retarget()

    def _wait_for_free(self, job_name: str, count: int, should_stop,
                       timeout: float) -> list[str] | None:
        deadline = time.monotonic() + timeout
        while True:
            workers = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
            with self._lock:
                free = [a for a in workers if a not in self._leased]
                if len(free) >= count:
                    for address in free[:count]:
                        self._leased[address] = job_name
                    return free[:count]
            if should_stop():
                return None
            if time.monotonic() > deadline:
                raise ClusterError(f"compute {self.compute} gave no {count} free worker(s) in "
                                   f"{timeout:.0f} s ({len(workers)} running, the others busy "
                                   "with other jobs); raise its max_instances or wait")
            time.sleep(WAIT_POLL_SECONDS)

    def _retarget(self) -> None:
        """The adaptive minimum: what running jobs asked for, at least min_instances, at most
        max_instances. Scaling up is asked for at once; Adaptive does the scaling down."""
        target = min(self.max_instances, max(self.min_instances, sum(self._demand.values())))
        self.adaptive.minimum = target
        if target > len(self.cluster.worker_spec):
            self.cluster.scale(target)

    def close(self) -> None:
        _running.pop(self.compute, None)
        with contextlib.suppress(Exception):
            self.adaptive.stop()
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        with contextlib.suppress(Exception):
            self.cluster.close(timeout=10)
