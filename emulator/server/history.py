"""The regional routes Azure's SDK follows a job with. ``jobs.stream``: run details with the
job's log as a log file, and the log itself (fetched without a token, as Azure's SAS URLs).
``jobs.download``: a child run (a batch job's scoring step ``<job>-batchscoring``, or a
pipeline's step ``<job>-<step>``), its named outputs as data asset ids (the scoring step's
``score``), and such an id resolved to the output folder's datastore URI (a step's folder is
published to Azurite's container first). ``jobs.list(parent_job_name=)`` reads the children
as runs, with their times; a child can be got, streamed and downloaded like a job (its ARM
shape is served by ``control_plane``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from emulator.exceptions import ResourceNotFoundError
from emulator.model.timestamps import iso_time
from emulator.model.uris import parse_datastore_uri
from emulator.server import pipeline_translate, security, translate
from emulator.server.control_plane import json_body
from emulator.service import BatchService, JobRecord

WORKSPACE = ("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
             "Microsoft.MachineLearningServices/workspaces/{workspace}")
RUNS = "/history/v1.0" + WORKSPACE + "/runs/{run}"
SCORING_STEP = translate.SCORING_STEP
router = APIRouter(include_in_schema=False)
EXECUTION_LOG = "logs/azureml/executionlogs.txt"


def _service(request: Request, workspace: str) -> BatchService:
    return BatchService(home=request.app.state.home, workspace=workspace, create=False)


def _record(request: Request, workspace: str, run: str) -> JobRecord:
    """The record of the job ``run`` names, itself or as its scoring step."""
    svc = _service(request, workspace)
    document, _ = svc.job_or_step(run)  # reconciles a dead runner, raises for an unknown job
    return svc.job_record(document["name"])


@router.get(RUNS + "/details", dependencies=[Depends(security.either_plane)])
def run_details(request: Request, subscription: str, resource_group: str, workspace: str,
                run: str) -> dict:
    record = _record(request, workspace, run)
    base = str(request.base_url).rstrip("/")
    details = {
        "runId": run, "status": record.status, "target": "batch-emulator",
        "startTimeUtc": record.start_time and iso_time(record.start_time),
        "endTimeUtc": record.end_time and iso_time(record.end_time),
        "logFiles": {EXECUTION_LOG: f"{base}/joblogs/{workspace}/{run}"},
        "warnings": [{"source": "batch-emulator", "message": notice}
                     for notice in record.notices],
        "properties": {"azureml.batchrun": "true"},
    }
    if record.error:
        details["error"] = {"error": {"code": "UserError", "message": record.error}}
    return details


@router.get(RUNS, dependencies=[Depends(security.either_plane)])
def get_run(request: Request, subscription: str, resource_group: str, workspace: str,
            run: str) -> dict:
    """A job, its scoring step or a pipeline's step as a run (what the SDK reads for a
    pipeline's child)."""
    document, step = _service(request, workspace).job_or_step(run)
    return _run_out(document, step)


def _run_out(document: dict, step: bool = False) -> dict:
    if document.get("parent_job_name") and not step:  # a step of a pipeline job
        error = (document.get("error") or {}).get("message")
        return pipeline_translate.step_out({**document, "error": error})
    return translate.run_out(document, step)


@router.get(RUNS + "/children", dependencies=[Depends(security.either_plane)])
def run_children(request: Request, subscription: str, resource_group: str, workspace: str,
                 run: str) -> dict:
    """A pipeline job's steps, a batch job's one child (its scoring step); a step has none."""
    svc = _service(request, workspace)
    document, step = svc.job_or_step(run)
    if document.get("steps") is not None and not step:
        return {"value": [_run_out(child) for child in svc.child_jobs(run)], "nextLink": None}
    if step or document.get("parent_job_name"):
        return {"value": [], "nextLink": None}
    return {"value": [translate.run_out(document, step=True)], "nextLink": None}


@router.post("/history/v1.0" + WORKSPACE + "/rundata",
             dependencies=[Depends(security.either_plane)])
async def run_data(request: Request, subscription: str, resource_group: str,
                   workspace: str) -> dict:
    """A child run's named outputs (a pipeline step's, or a scoring step's ``score``) as data
    asset ids ``batchGetResolvedUris`` knows."""
    child = str((await json_body(request)).get("runId") or "")
    document, step = _service(request, workspace).job_or_step(child)
    if step:  # the scoring step of a batch job: its job's output
        return pipeline_translate.step_run_data_out(
            {"name": document["name"], "status": document["status"],
             "outputs": {"score": {"type": "uri_folder"}}}, workspace)
    if not document.get("parent_job_name"):
        return {"runMetadata": {"runId": child, "status": document["status"], "outputs": {}}}
    return pipeline_translate.step_run_data_out(document, workspace)


@router.post("/data/v1.0" + WORKSPACE + "/dataversion/batchGetResolvedUris",
             dependencies=[Depends(security.either_plane)])
async def resolved_uris(request: Request, subscription: str, resource_group: str,
                        workspace: str) -> dict:
    """Output asset ids to the long-form datastore URI of the job's output folder."""
    resolved = {}
    for asset_id in (await json_body(request)).get("values") or []:
        found = pipeline_translate.parse_output_asset(str(asset_id))
        if found is None:
            continue
        owner, run, output = found
        svc = _service(request, owner)
        document, _ = svc.job_or_step(run)
        if document.get("parent_job_name"):  # a pipeline's step: its folder, published
            uri = await run_in_threadpool(svc.publish_output, run, output)
        else:  # a batch job, downloaded through its scoring step
            uri = svc.job_record(document["name"]).output_uri or ""
        parsed = parse_datastore_uri(uri)
        if parsed is not None:
            folder = parsed[1].rstrip("/") + "/"  # an output URI names its folder
            resolved[asset_id] = {"uri": (
                f"azureml://subscriptions/{subscription}/resourcegroups/{resource_group}/"
                f"workspaces/{owner}/datastores/{parsed[0]}/paths/{folder}")}
    return {"values": resolved}


@router.get("/joblogs/{workspace}/{run}", response_class=PlainTextResponse)
def job_log(request: Request, workspace: str, run: str) -> str:
    record = _record(request, workspace, run)
    path = Path(record.job_folder) / record.log_file  # a step's is its std_log.txt
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResourceNotFoundError(f"job {run} has no log yet") from None
