"""compute create/show/list/delete, and a warm compute's start, stop and nodes.

An ``amlcompute`` is warm while its host process runs (``jobs.host``): started by the first
job when ``min_instances`` is above 0, or by ``compute start``; stopped by ``compute stop``
or ``compute delete``. Jobs invoked on a warm compute are carried by its host, on workers
that are already running. ``min_instances: 0`` and not started: a Dask cluster per job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from emulator.exceptions import ConflictError, ResourceNotFoundError, ValidationError
from emulator.jobs import host
from emulator.jobs.launch import request_cancel
from emulator.jobs.record import TERMINAL
from emulator.model import references
from emulator.model.validation import load_resource

AMLCOMPUTE = "amlcompute"
CANCEL_WAIT_SECONDS = 90.0


class ComputeOperations:
    # ================================================================== computes

    def create_compute(self, file: str | None = None, set_values: Iterable[str] = (),
                       base: dict | None = None, **fields: Any) -> dict:
        """From a YAML, ``--set`` items and flags, or a ``base`` document (REST bodies). A
        running host takes the new bounds at once."""
        flags = [f"{k}={v}" for k, v in fields.items() if v is not None]
        body = load_resource("compute", file, [*set_values, *flags], base=base)
        existing = self.store.get("compute", body["name"])
        if existing is not None and existing["type"] != body["type"]:
            raise ConflictError(f"compute {existing['name']} is a {existing['type']} compute; a "
                                "compute's type cannot change: delete it first or choose "
                                "another name")
        if body["type"] == AMLCOMPUTE and \
                int(body["min_instances"]) > int(body["max_instances"]):
            raise ValidationError(f"compute {body['name']}: min_instances "
                                  f"{body['min_instances']} is above max_instances "
                                  f"{body['max_instances']}; raise max_instances")
        body["id"] = references.arm_id(self.scope, "computes", body["name"])
        body["provisioning_state"] = "Succeeded"
        self.store.put("compute", body["name"], body)
        record = host.running(self.workspace, body["name"])
        if record is not None:
            host.request(record, {"op": "configure", "compute": body})
        return self._with_state(body)

    def put_compute(self, document: dict) -> tuple[dict, bool]:
        """Create or update a compute (an ARM PUT): (the compute, whether it is new)."""
        created = self.store.get("compute", document["name"]) is None
        return self.create_compute(base=document), created

    def show_compute(self, name: str) -> dict:
        return self._with_state(self._compute(name))

    def list_computes(self) -> list[dict]:
        return [self._with_state(body) for body in self.store.list("compute")]

    def delete_compute(self, name: str, cancel_jobs: bool = False) -> None:
        """Refused while jobs run on it, unless ``cancel_jobs``: they are then cancelled and
        the compute's cluster stopped before the compute is deleted."""
        body = self._compute(name)
        self._stop_compute_jobs(body["name"], cancel_jobs, "delete")
        host.stop(self.workspace, body["name"], cancel_jobs=True)
        self.store.delete("compute", body["name"])

    # ----------------------------------------------------------------- warm clusters

    def start_compute(self, name: str) -> dict:
        """Keep the compute's Dask cluster running (min_instances workers) for later jobs."""
        body = self._amlcompute(name, "start")
        host.ensure(self.workspace, body["name"])
        return self._with_state(body)

    def stop_compute(self, name: str, cancel_jobs: bool = False) -> dict:
        """Stop the compute's cluster; refused while jobs run on it unless ``cancel_jobs``."""
        body = self._amlcompute(name, "stop")
        self._stop_compute_jobs(body["name"], cancel_jobs, "stop")
        if not host.stop(self.workspace, body["name"], cancel_jobs=True):
            self.warnings.append(f"compute {body['name']} was not running")
        return self._with_state(body)

    def list_compute_nodes(self, name: str) -> list[dict]:
        """The workers of a running compute, as ``az ml compute list-nodes`` shows nodes."""
        body = self._compute(name)
        record = host.running(self.workspace, body["name"])
        if record is None:
            return []
        return host.request(record, {"op": "nodes"})["nodes"]

    def warm_compute(self, compute: str | None) -> str | None:
        """The amlcompute a job runs warm on: its cluster is running, or it keeps
        min_instances above 0 (the job starts it); None for a cluster of the job's own."""
        if not compute:
            return None
        body = self.store.get("compute", references.compute_name(compute))
        if body is None or body["type"] != AMLCOMPUTE:
            return None
        if int(body["min_instances"]) > 0 or \
                host.running(self.workspace, body["name"]) is not None:
            return body["name"]
        return None

    def compute_jobs(self, name: str) -> list[str]:
        """The jobs running (or queued) on a compute, newest first."""
        names = []
        for body, pid in self.store.list_jobs():
            compute = body.get("compute")
            if not compute or references.compute_name(compute).lower() != name.lower():
                continue
            if body["record"]["status"] not in TERMINAL and \
                    self._reconciled(body, pid)["record"]["status"] not in TERMINAL:
                names.append(body["record"]["name"])
        return names

    # ----------------------------------------------------------------- helpers

    def _compute(self, name: str) -> dict:
        body = self.store.get("compute", name)
        if body is None:
            raise ResourceNotFoundError(f"compute {name!r} does not exist in workspace "
                                        f"{self.workspace.name!r}; create it with 'compute create'")
        return body

    def _amlcompute(self, name: str, verb: str) -> dict:
        body = self._compute(name)
        if body["type"] != AMLCOMPUTE:
            raise ValidationError(f"compute {name} is a {body['type']} compute; only an "
                                  f"amlcompute has a cluster the emulator can {verb}")
        return body

    def _stop_compute_jobs(self, name: str, cancel_jobs: bool, verb: str) -> None:
        running = self.compute_jobs(name)
        if not running:
            return
        if not cancel_jobs:
            listed = ", ".join(running[:5]) + (", ..." if len(running) > 5 else "")
            raise ConflictError(f"compute {name} has {len(running)} running job(s) ({listed}); "
                                f"cancel them first, or {verb} with --yes, which cancels them")
        for job in running:
            body = self._job(job)
            request_cancel(body.get("runner_folder") or body["record"]["job_folder"])
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        while self.compute_jobs(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.warnings.append(f"cancelled {len(running)} job(s) on compute {name}: "
                             f"{', '.join(running)}")

    def _with_state(self, body: dict) -> dict:
        """An amlcompute shows whether its cluster runs (``state``, as a compute instance
        does in Azure) and, when it does, its Dask dashboard."""
        if body["type"] != AMLCOMPUTE:
            return body
        record = host.running(self.workspace, body["name"])
        if record is None:
            return {**body, "state": "Stopped"}
        return {**body, "state": "Running", "dashboard_link": record.dashboard_link}
