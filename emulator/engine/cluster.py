"""Where a job's instances come from: a LocalCluster of its own, or an existing scheduler."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from emulator.exceptions import ClusterError

# The dashboard of a job's local cluster: this machine only, a free port.
LOOPBACK_DASHBOARD = "127.0.0.1:0"
# Worker pods of a deployment whose environment names no image.
DEFAULT_WORKER_IMAGE = "ghcr.io/dask/dask:latest"
# A job on a full warm compute waits for workers, as an Azure job queues for nodes.
WAIT_FOR_NODES_SECONDS = 3600.0


@dataclass(frozen=True)
class ClusterSpec:
    """``scheduler_address`` None: a LocalCluster sized to the job; else connect to it.
    ``kubernetes`` (image, namespace, resources): a ``dask_kubernetes`` KubeCluster instead.
    ``warm_compute``: the warm cluster of that compute, hosted by the process carrying the
    job (``engine.warm``)."""

    scheduler_address: str | None = None
    connect_timeout: float = 30.0
    kubernetes: dict | None = None
    warm_compute: str | None = None

    @property
    def local(self) -> bool:
        """Workers on this machine: a LocalCluster of the job's own or a warm compute's."""
        return self.scheduler_address is None and self.kubernetes is None


# A worker pod's cache of code and model bundles (engine.shipping): an emptyDir, so a
# restarted worker process finds what its pod fetched.
WORKER_SCRATCH = "/var/cache/batch-emulator"
MANAGED_BY = "batch-endpoint-emulator"


def kubernetes_cluster(settings: dict, job_name: str, instance_count: int,
                       concurrency: int) -> dict:
    """The ``DaskCluster`` resource a job asks the Dask operator for, as data: one worker
    pod per instance running the deployment's environment image with
    ``max_concurrency_per_instance`` threads, the compute's requests and limits, and a
    scratch volume where the worker installs the job's code and model bundles."""
    try:  # the optional 'kubernetes' extra
        from dask_kubernetes.operator import make_cluster_spec
    except ImportError:
        raise ClusterError("kubernetes computes need dask-kubernetes: pip install "
                           "'batch-endpoint-emulator[kubernetes]'") from None
    resources = settings.get("resources") or {}
    name = f"batch-{job_name}"[:63].lower().rstrip("-")
    resource = make_cluster_spec(
        name=name, image=settings.get("image") or DEFAULT_WORKER_IMAGE,
        n_workers=instance_count,
        resources={key: {unit: str(amount) for unit, amount in resources[key].items()}
                   for key in ("requests", "limits") if key in resources},
        env={"DASK_TEMPORARY_DIRECTORY": WORKER_SCRATCH},
        worker_command=f"dask-worker --nthreads {concurrency} --memory-limit 0")
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY,
              "batch-emulator/job": _label_value(job_name)}
    resource["metadata"]["labels"] = labels
    worker = resource["spec"]["worker"]
    worker["metadata"] = {"labels": labels}
    pod = worker["spec"]
    pod["volumes"] = [{"name": "emulator-cache", "emptyDir": {}}]
    pod["containers"][0]["volumeMounts"] = [{"name": "emulator-cache",
                                             "mountPath": WORKER_SCRATCH}]
    return resource


def _label_value(text: str) -> str:
    """A Kubernetes label value: at most 63 of ``[A-Za-z0-9._-]``, alphanumeric at both ends."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in text)
    return cleaned[:63].strip("._-") or "job"


@dataclass
class Instances:
    client: object  # distributed.Client
    addresses: list[str]  # the workers this job may use, one per instance
    threads: int

    @property
    def dashboard_link(self) -> str:
        """The Dask dashboard's URL, or "" when the scheduler serves none (no bokeh)."""
        try:
            return self.client.dashboard_link if self.client.scheduler_info().get(  # type: ignore[attr-defined]
                "services", {}).get("dashboard") else ""
        except Exception:  # a dashboard link is a convenience: never fail a job over it
            return ""

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
                  notices: list[str], job_name: str = "job",
                  should_stop: Callable[[], bool] = lambda: False) -> Iterator[Instances | None]:
    """Yield a client and ``instance_count`` worker addresses; tear down what we started.
    None: the job was stopped while it waited for a warm compute's workers."""
    import dask  # here, not at the top: reads of the service must not pay for Dask

    if spec.warm_compute is not None:
        yield from _warm_instances(spec.warm_compute, instance_count, notices, job_name,
                                   should_stop)
        return
    with dask.config.set(_QUIET):
        client, cluster = _connect(spec, instance_count, concurrency, job_name)
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


def _warm_instances(compute: str, instance_count: int, notices: list[str], job_name: str,
                    should_stop: Callable[[], bool]) -> Iterator[Instances | None]:
    from emulator.engine import warm  # Dask's own import, for the process hosting a compute

    cluster = warm.running(compute)
    if cluster is None:
        raise ClusterError(f"compute {compute}'s cluster is not hosted by this process; "
                           "invoke the job again (it restarts the compute's cluster)")
    with cluster.instances(job_name, instance_count, notices, should_stop,
                           WAIT_FOR_NODES_SECONDS) as instances:
        yield instances


def _connect(spec: ClusterSpec, instance_count: int, concurrency: int,
             job_name: str) -> tuple[object, object | None]:
    """A client, and the cluster started for this job (None for an existing scheduler)."""
    from distributed import Client, LocalCluster  # only when a job runs (see job_instances)

    if spec.kubernetes is not None:
        try:  # the optional 'kubernetes' extra
            from dask_kubernetes.operator import KubeCluster
        except ImportError:
            raise ClusterError("kubernetes computes need dask-kubernetes: pip install "
                               "'batch-endpoint-emulator[kubernetes]'") from None
        resource = kubernetes_cluster(spec.kubernetes, job_name, instance_count, concurrency)
        try:
            cluster = KubeCluster(custom_cluster_spec=resource,
                                  namespace=spec.kubernetes["namespace"], shutdown_on_close=True)
        except Exception as exc:
            raise ClusterError(f"could not start a Dask cluster on Kubernetes: {exc}; check "
                               "the kubeconfig and the Dask operator") from exc
        client = Client(cluster, set_as_default=False)
        client.wait_for_workers(instance_count, timeout=600)
        return client, cluster
    if spec.scheduler_address is None:
        try:
            import logging  # with Dask, where a job's cluster starts

            cluster = LocalCluster(n_workers=instance_count, threads_per_worker=concurrency,
                                   processes=True, dashboard_address=LOOPBACK_DASHBOARD, memory_limit=0,
                                   silence_logs=logging.ERROR)
        except Exception as exc:
            raise ClusterError(f"could not start a local Dask cluster: {exc}") from exc
        return Client(cluster, set_as_default=False), cluster
    try:
        return Client(spec.scheduler_address, timeout=spec.connect_timeout,
                      set_as_default=False), None
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {spec.scheduler_address} ({exc}); "
                           "start it or fix the compute's scheduler_address") from None


def _close_quietly(client, cluster) -> None:
    """Close the client before the cluster, without flooding the terminal with heartbeats."""
    import logging  # see _connect

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
