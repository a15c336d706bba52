"""The JSON documents the front ends show, in ``az ml``'s shapes and snake_case keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emulator import settings
from emulator.jobs.record import JobRecord
from emulator.model.references import arm_id
from emulator.model.timestamps import iso_time
from emulator.service.home import SERVER_RECORD, running_server
from emulator.workspace.store import Store

DEFAULT_SERVER_URL = "http://127.0.0.1:8790"
# serve's pages (server/studio.py); a job's page is its services.Studio.endpoint
STUDIO = "/studio/workspaces/{workspace}"
STUDIO_JOB = STUDIO + "/jobs/{name}"
SCORING_STEP = "-batchscoring"  # a batch job's one child job, its scoring step: <job>-batchscoring


def server_url(store: Store) -> str:
    """Where the last ``serve`` for this home listened (SPEC §10), else the default."""
    try:
        return json.loads((store.workspace.home / SERVER_RECORD).read_text())["url"].rstrip("/")
    except (OSError, ValueError, KeyError):
        return DEFAULT_SERVER_URL


def endpoint(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    base = server_url(store)
    name = body["name"]
    return {
        "name": name,
        "description": body.get("description", ""),
        "tags": body.get("tags", {}),
        "auth_mode": body["auth_mode"],
        "defaults": {"deployment_name": body.get("defaults", {}).get("deployment_name")},
        "properties": body.get("properties", {}),
        "id": arm_id(store.scope, "batchEndpoints", name),
        "location": "local",
        "provisioning_state": "Succeeded",
        "scoring_uri": f"{base}/endpoints/{name}/jobs",
        "openapi_uri": f"{base}/endpoints/{name}/swagger.json",
    }


def workspace(store: Store) -> dict[str, Any]:
    """``az ml workspace show``'s document for the store's workspace."""
    scope, base = store.scope, server_url(store)
    return {
        "name": scope.workspace,
        "display_name": scope.workspace,
        "description": "",
        "id": scope.workspace_id,
        "location": "local",
        "resource_group": scope.resource_group,
        "discovery_url": f"{base}/discovery/workspaces/{scope.workspace}",
        "mlflow_tracking_uri": "",
        "storage_account": "",
        "public_network_access": "Disabled",
        "tags": {},
        "local_path": str(store.workspace.root),
    }


def deployment(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    document = {k: v for k, v in body.items() if not k.startswith("_")}
    document["id"] = arm_id(store.scope, f"batchEndpoints/{body['endpoint_name']}/deployments",
                            body["name"])
    document["provisioning_state"] = "Succeeded"
    return document


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else iso_time(timestamp)


def _last_change(record: JobRecord) -> float:
    """When the job last changed: its latest status (a job changes only by its status)."""
    return record.status_history[-1][1] if record.status_history else record.creation_time


def studio_job_url(store: Store, record: JobRecord) -> str:
    """The job's page on the home's running server, else its folder as a file:// link."""
    server = running_server(store.workspace.home)
    if server is None:
        return Path(record.job_folder).as_uri()
    return server + STUDIO_JOB.format(workspace=store.scope.workspace, name=record.name)


def job(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    record = JobRecord.from_dict(body["record"])
    studio = studio_job_url(store, record)
    properties = {
        "azureml.batchrun": "true",
        "endpoint_name": record.endpoint_name,
        "deployment_name": record.deployment_name,
        "job_folder": record.job_folder,
        "output_folder": record.output_folder,
        "output_file": record.output_file or "",
        "mini_batches_total": str(record.mini_batches_total),
        "mini_batches_completed": str(record.mini_batches_completed),
        "mini_batches_failed": str(record.mini_batches_failed),
        "files_total": str(record.files_total),
        "files_succeeded": str(record.files_succeeded),
        "files_failed": str(record.files_failed),
    }
    properties.update(body.get("user_properties", {}))
    creator = body.get("created_by") or settings.DEFAULT_USER
    document = {
        "name": record.name,
        "display_name": body.get("display_name") or record.name,
        "description": body.get("description", ""),
        "type": body.get("type", "pipeline"),
        "status": body.get("display_status") or record.status,
        "experiment_name": body.get("experiment_name") or record.endpoint_name or "batch-emulator",
        "id": arm_id(store.scope, "jobs", record.name),
        "creation_context": {"created_at": _iso(record.creation_time),
                             "created_by": creator, "created_by_type": "User",
                             "last_modified_at": _iso(_last_change(record)),
                             "last_modified_by": creator, "last_modified_by_type": "User"},
        "start_time": _iso(record.start_time),
        "end_time": _iso(record.end_time),
        "compute": body.get("compute"),
        "inputs": _job_inputs(body, record),
        "outputs": ({name: {"type": "uri_folder", "path": path, "mode": "rw_mount"}
                     for name, path in record.outputs.items()} if record.outputs else
                    {"score": {"type": "uri_folder", "path": record.output_uri,
                               "mode": "rw_mount"}}),
        "settings": record.settings or body.get("settings") or {},
        "properties": properties,
        "services": {"Studio": {"endpoint": studio, "job_service_type": "Studio"}},
        "interaction_endpoints": {"Studio": {"endpoint": studio}},
        "tags": body.get("tags", {}),
        "is_archived": bool(body.get("is_archived")),
    }
    for key in ("parent_job_name", "component", "command", "steps"):
        if body.get(key) is not None:
            document[key] = body[key]
    if record.error:
        document["error"] = {"code": "UserError", "message": record.error}
    if record.notices:
        document["notices"] = list(record.notices)
    return document


def _job_inputs(body: dict[str, Any], record: JobRecord) -> dict[str, Any]:
    if "inputs" in body:  # a pipeline job: its named inputs, literals as values
        return {name: value if isinstance(value, dict) else {"type": "literal", "value": value}
                for name, value in body["inputs"].items()}
    if body.get("parent_job_name"):
        return {}
    return {"input_data": {"type": body.get("input_type", "uri_folder"),
                           "path": record.input_path, "mode": "ro_mount"}}


def component(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """``az ml component show``'s document: the definition as registered."""
    return {**body, "type": body.get("type", "command"),
            "is_archived": bool(body.get("is_archived"))}


def scoring_step(job_document: dict[str, Any]) -> dict[str, Any]:
    """A batch job's one child job, its scoring step, as ``job list --parent-job-name`` and
    ``job show -n <job>-batchscoring`` show it: the job's status, times and outputs."""
    return {**job_document, "name": job_document["name"] + SCORING_STEP,
            "display_name": "batchscoring", "type": "command",
            "id": job_document["id"] + SCORING_STEP, "parent_job_name": job_document["name"],
            "properties": {**job_document["properties"],
                           "azureml.parentrunid": job_document["name"]}}
