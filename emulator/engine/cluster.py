"""Where a job's instances come from: a LocalCluster of its own, or an existing scheduler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import dask

from emulator.exceptions import ClusterError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterSpec:
    """``scheduler_address`` None: a LocalCluster sized to the job; else connect to it."""

    scheduler_address: str | None = None
    connect_timeout: float = 30.0


@dataclass
class Instances:
    client: object  # distributed.Client
    addresses: list[str]  # the workers this job may use, one per instance
    threads: int

    @property
    def names(self) -> tuple[tuple[str, str], ...]:
        return tuple((address, f"instance-{i}") for i, address in enumerate(self.addresses))


_QUIET = {
    # Our scheduler counts attempts itself: Dask must not rerun a lease on its own.
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.daemon": True,
    "distributed.admin.tick.limit": "1h",
    "distributed.scheduler.work-stealing": False,
}


@contextlib.contextmanager
def job_instances(spec: ClusterSpec, instance_count: int, concurrency: int,
                  notices: list[str]) -> Iterator[Instances]:
    """Yield a client and ``instance_count`` worker addresses; tear down what we started."""
    from distributed import Client, LocalCluster

    with dask.config.set(_QUIET):
        if spec.scheduler_address is None:
            try:
                cluster = LocalCluster(
                    n_workers=instance_count,
                    threads_per_worker=concurrency,
                    processes=True,
                    dashboard_address=":0",
                    memory_limit=0,
                    silence_logs=logging.ERROR,
                )
            except Exception as exc:
                raise ClusterError(f"could not start a local Dask cluster: {exc}") from exc
            client = Client(cluster, set_as_default=False)
        else:
            cluster = None
            try:
                client = Client(spec.scheduler_address, timeout=spec.connect_timeout,
                                set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {spec.scheduler_address} ({exc}); "
                    "start it or fix the compute's scheduler_address") from None
        try:
            workers = client.scheduler_info(n_workers=-1)["workers"]
            addresses = sorted(workers)
            if not addresses:
                raise ClusterError(f"the Dask scheduler at {spec.scheduler_address} has no "
                                   "workers; start some with 'dask worker ADDRESS'")
            if len(addresses) < instance_count:
                notices.append(f"instance_count={instance_count} but the cluster has "
                               f"{len(addresses)} worker(s); using {len(addresses)}")
            chosen = addresses[:instance_count]
            threads = min(workers[a].get("nthreads", 1) for a in chosen)
            yield Instances(client=client, addresses=chosen, threads=threads)
        finally:
            _close_quietly(client, cluster)


def _close_quietly(client, cluster) -> None:
    """Close the client before the cluster, without flooding the terminal with heartbeats."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with contextlib.suppress(Exception):
            client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
