"""Compute targets: how a kubernetes compute becomes a KubeCluster (no cluster here: the
mapping is tested; the operator itself needs a Kubernetes this machine does not have)."""

from __future__ import annotations

import pytest

from emulator.engine.cluster import ClusterSpec, job_instances, kubernetes_arguments
from emulator.exceptions import ClusterError
from emulator.model import schemas


def test_kubernetes_workers_get_the_image_instances_threads_and_resources():
    arguments = kubernetes_arguments(
        {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
         "namespace": "scoring", "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                               "limits": {"memory": "4Gi"}}},
        "batchjob-1234-ABCD", instance_count=3, concurrency=2)
    assert arguments == {
        "name": "batch-batchjob-1234-abcd", "namespace": "scoring",
        "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest", "n_workers": 3,
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "worker_command": ["dask-worker", "--nthreads", "2"], "shutdown_on_close": True}


def test_kubernetes_defaults_and_name_limits():
    compute = schemas.fill_defaults("compute", {"name": "k8s", "type": "kubernetes"})
    arguments = kubernetes_arguments(compute, "x" * 80, 1, 1)
    assert len(arguments["name"]) <= 63
    assert (arguments["namespace"], arguments["image"]) == ("default", "ghcr.io/dask/dask:latest")
    assert arguments["resources"] == {}


def test_a_kubernetes_compute_without_the_extra_says_what_to_install():
    pytest.importorskip("distributed")
    try:
        import dask_kubernetes  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("dask-kubernetes is installed; this checks the message without it")
    expected = r"pip install 'batch-endpoint-emulator\[kubernetes\]'"
    with pytest.raises(ClusterError, match=expected), \
            job_instances(ClusterSpec(kubernetes={"image": "x"}), 1, 1, []):
        pass
