"""The run-history routes Azure's SDK follows a job with (``jobs.stream``): run details with
the job's log as a log file, and the log itself (fetched without a token, as Azure's SAS URLs)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from emulator.engine.record import JobRecord
from emulator.exceptions import ResourceNotFoundError
from emulator.server import security
from emulator.service import BatchService

RUNS = ("/history/v1.0/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        "Microsoft.MachineLearningServices/workspaces/{workspace}/runs/{run}")
router = APIRouter(include_in_schema=False)
EXECUTION_LOG = "logs/azureml/executionlogs.txt"


def _record(request: Request, workspace: str, run: str) -> JobRecord:
    svc = BatchService(home=request.app.state.home, workspace=workspace, create=False)
    svc.show_job(run)  # reconciles a dead runner, raises for an unknown job
    found = svc.store.get_job(run)
    return JobRecord.from_dict(found[0]["record"])


@router.get(RUNS + "/details", dependencies=[Depends(security.either_plane)])
def run_details(request: Request, subscription: str, resource_group: str, workspace: str,
                run: str) -> dict:
    record = _record(request, workspace, run)
    base = str(request.base_url).rstrip("/")
    details = {
        "runId": record.name, "status": record.status, "target": "batch-emulator",
        "startTimeUtc": record.start_time and _iso(record.start_time),
        "endTimeUtc": record.end_time and _iso(record.end_time),
        "logFiles": {EXECUTION_LOG: f"{base}/joblogs/{workspace}/{run}"},
        "warnings": [{"source": "batch-emulator", "message": notice}
                     for notice in record.notices],
        "properties": {"azureml.batchrun": "true"},
    }
    if record.error:
        details["error"] = {"error": {"code": "UserError", "message": record.error}}
    return details


@router.get("/joblogs/{workspace}/{run}", response_class=PlainTextResponse)
def job_log(request: Request, workspace: str, run: str) -> str:
    record = _record(request, workspace, run)
    path = Path(record.job_folder) / "logs" / "job_progress_overview.txt"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResourceNotFoundError(f"job {run} has no log yet") from None


def _iso(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(timestamp))
