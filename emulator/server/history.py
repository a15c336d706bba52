"""The regional routes Azure's SDK follows a job with. ``jobs.stream``: run details with the
job's log as a log file, and the log itself (fetched without a token, as Azure's SAS URLs).
``jobs.download``: the job's one child run (the scoring step, ``<job>-batchscoring``), its
``score`` output as a data asset id, and that id resolved to the output folder's datastore URI.
``jobs.list(parent_job_name=)`` reads the children as runs, with their times; the step can be
got, streamed and downloaded like its job (its ARM shape is served by ``control_plane``)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from emulator.exceptions import ResourceNotFoundError
from emulator.model.timestamps import iso_time
from emulator.model.uris import parse_datastore_uri
from emulator.server import security, translate
from emulator.server.control_plane import json_body
from emulator.service import BatchService, JobRecord

WORKSPACE = ("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
             "Microsoft.MachineLearningServices/workspaces/{workspace}")
RUNS = "/history/v1.0" + WORKSPACE + "/runs/{run}"
SCORING_STEP = translate.SCORING_STEP
OUTPUT_ASSET = re.compile(r"^azureml://locations/[^/]+/workspaces/(?P<workspace>[^/]+)/data/"
                          r"azureml_(?P<run>.+)_output_data_score/versions/1$")
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
    """A job or its scoring step as a run (what the SDK reads for a pipeline's child)."""
    document, step = _service(request, workspace).job_or_step(run)
    return translate.run_out(document, step)


@router.get(RUNS + "/children", dependencies=[Depends(security.either_plane)])
def run_children(request: Request, subscription: str, resource_group: str, workspace: str,
                 run: str) -> dict:
    """A job's one child, its scoring step; the step has none."""
    document, step = _service(request, workspace).job_or_step(run)
    return {"value": [] if step else [translate.run_out(document, step=True)], "nextLink": None}


@router.post("/history/v1.0" + WORKSPACE + "/rundata",
             dependencies=[Depends(security.either_plane)])
async def run_data(request: Request, subscription: str, resource_group: str,
                   workspace: str) -> dict:
    """A scoring step's outputs: ``score``, as a data asset id ``batchGetResolvedUris`` knows."""
    child = str((await json_body(request)).get("runId") or "")
    document, step = _service(request, workspace).job_or_step(child)
    outputs = {}
    if step:
        outputs["score"] = {"assetId": f"azureml://locations/local/workspaces/{workspace}/data/"
                                       f"azureml_{document['name']}_output_data_score/versions/1",
                            "type": "uri_folder"}
    return {"runMetadata": {"runId": child, "status": document["status"], "outputs": outputs}}


@router.post("/data/v1.0" + WORKSPACE + "/dataversion/batchGetResolvedUris",
             dependencies=[Depends(security.either_plane)])
async def resolved_uris(request: Request, subscription: str, resource_group: str,
                        workspace: str) -> dict:
    """Output asset ids to the long-form datastore URI of the job's output folder."""
    resolved = {}
    for asset_id in (await json_body(request)).get("values") or []:
        match = OUTPUT_ASSET.match(str(asset_id))
        if match is None:
            continue
        record = _record(request, match["workspace"], match["run"])
        parsed = parse_datastore_uri(record.output_uri or "")
        if parsed is not None:
            folder = parsed[1].rstrip("/") + "/"  # a job's output URI names its folder
            resolved[asset_id] = {"uri": (
                f"azureml://subscriptions/{subscription}/resourcegroups/{resource_group}/"
                f"workspaces/{match['workspace']}/datastores/{parsed[0]}/paths/{folder}")}
    return {"values": resolved}


@router.get("/joblogs/{workspace}/{run}", response_class=PlainTextResponse)
def job_log(request: Request, workspace: str, run: str) -> str:
    record = _record(request, workspace, run)
    path = Path(record.job_folder) / "logs" / "job_progress_overview.txt"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResourceNotFoundError(f"job {run} has no log yet") from None
