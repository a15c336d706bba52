"""The Kubernetes deployment files, checked as far as this machine allows (no Docker engine,
no cluster): the worker image's Dockerfile is linted (pinned base, the package installed
from the build context, no cache, not root, the bundle cache the DaskCluster mounts) and the
RBAC manifest grants what KubeCluster does with a job's DaskCluster."""

from __future__ import annotations

import json
import shlex

import yaml

from emulator.engine.cluster import WORKER_SCRATCH
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's (INSTRUCTION, arguments), continuation lines joined, comments out."""
    joined, found = "", []
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        joined += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, arguments = joined.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
            joined = ""
    return found


def test_the_base_image_is_pinned_and_the_package_installed_from_the_context():
    steps = instructions()
    assert steps[0][0] == "FROM"
    image, _, tag = steps[0][1].partition(":")
    assert image and tag and tag != "latest" and "$" not in tag
    copied = [shlex.split(arguments)[:-1] for keyword, arguments in steps if keyword == "COPY"]
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
    assert {"pyproject.toml", "emulator", "schemas"} <= {s for group in copied for s in group}
    runs = [arguments for keyword, arguments in steps if keyword == "RUN"]
    installs = [run for run in runs if "pip install" in run]
    assert installs and all("--no-cache-dir" in run for run in installs)
    assert any(' ".[' in f" {run}" or " . " in f" {run} " for run in installs)
    assert not any(keyword == "ADD" for keyword, _ in steps)


def test_the_worker_runs_unprivileged_with_the_bundle_cache_writable():
    steps = instructions()
    users = [arguments for keyword, arguments in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(WORKER_SCRATCH in arguments and "chown" in arguments
               for keyword, arguments in steps if keyword == "RUN")
    assert all(arguments.startswith("/") for keyword, arguments in steps if keyword == "WORKDIR")
    command = [arguments for keyword, arguments in steps if keyword in ("CMD", "ENTRYPOINT")]
    assert command and all(isinstance(json.loads(c), list) for c in command)  # exec form


def test_the_role_grants_what_a_job_does_with_its_daskcluster():
    role, binding = yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text())
    assert (role["kind"], binding["kind"]) == ("Role", "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    granted = {(group, resource, verb) for rule in role["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"]
               for verb in rule["verbs"]}
    needed = {("kubernetes.dask.org", "daskclusters", verb)
              for verb in ("create", "get", "list", "watch", "patch", "delete")}
    needed |= {("", resource, verb) for resource in ("pods", "services")
               for verb in ("get", "list", "watch")}
    needed |= {("", "pods/portforward", "create")}
    assert needed <= granted, needed - granted
    assert not any(verb == "*" or resource == "*" for _, resource, verb in granted)
