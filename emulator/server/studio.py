"""A local Studio: server-rendered pages of a workspace, an endpoint and a job (its status,
counters, a timeline of every attempt, durations, failures with tracebacks, logs, outputs,
and the commands that reproduce it; a pipeline's steps as a graph). No build step and no
CDN: Jinja2 templates, SVG drawn from ``charts``, one small script that refreshes a running
job's live part.

On loopback the pages are open; a server beyond loopback asks for the REST API's tokens: a
bearer header, or ``?token=`` once, which becomes a cookie for the pages (and leaves the URL).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from emulator.exceptions import EmulatorError, ResourceNotFoundError
from emulator.server import charts, security
from emulator.service import BatchService, documents
from emulator.service.activity import AttemptMark

ROOT = "/studio"
WORKSPACE = documents.STUDIO
JOB = documents.STUDIO_JOB
STATIC = Path(__file__).parent / "static"
LOG_SHOWN_BYTES = 256 * 1024  # the end of a longer log; the whole one is a link away
RECENT_JOBS = 50
SLOWEST_SHOWN = 10
REFRESH_SECONDS = 2
# The pages run no inline script and load nothing from elsewhere.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

router = APIRouter(include_in_schema=False, dependencies=[Depends(security.studio)])
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("emulator.server", "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)
_templates.filters["seconds"] = charts.seconds
_templates.filters["when"] = lambda at: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) \
    if at else ""
_templates.filters["quote"] = lambda text: quote(str(text), safe="/")


def install(app: FastAPI) -> None:
    app.include_router(router)

    @app.exception_handler(security.StudioSignIn)
    async def signed_in(request: Request, exc: security.StudioSignIn):
        """``?token=`` was valid: keep it as the pages' cookie and drop it from the URL."""
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in request.query_params.items()
                         if k != "token")
        response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), 303)
        response.set_cookie(security.STUDIO_COOKIE, exc.token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path=ROOT)
        return response


def _service(request: Request, workspace: str) -> BatchService:
    return BatchService(home=request.app.state.home, workspace=workspace, create=False)


def _page(template: str, status: int = 200, **values) -> HTMLResponse:
    html = _templates.get_template(template).render(**values)
    # a file name that is not UTF-8 (kept as surrogates) is shown with U+FFFD, not refused
    html = html.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get(ROOT)
def studio_root(request: Request) -> RedirectResponse:
    workspace = request.app.state.workspace or _service(request, None).store.workspace.name
    return RedirectResponse(WORKSPACE.format(workspace=workspace), 307)


@router.get(ROOT + "/static/{name}")
def static_file(name: str) -> FileResponse:
    path = STATIC / name
    if name not in {"studio.css", "studio.js"}:
        raise ResourceNotFoundError(f"the Studio has no file {name!r}")
    return FileResponse(path, headers={"Cache-Control": "max-age=300",
                                       "X-Content-Type-Options": "nosniff"})


@router.get(WORKSPACE)
def workspace_page(request: Request, workspace: str) -> HTMLResponse:
    svc = _service(request, workspace)
    endpoints = svc.list_endpoints()
    jobs = svc.list_jobs(max_results=RECENT_JOBS)
    return _page("workspace.html", workspace=workspace, endpoints=endpoints, jobs=jobs,
                 computes=svc.list_computes(), links=_links(workspace))


@router.get(WORKSPACE + "/endpoints/{endpoint}")
def endpoint_page(request: Request, workspace: str, endpoint: str) -> HTMLResponse:
    svc = _service(request, workspace)
    document = svc.show_endpoint(endpoint)
    return _page("endpoint.html", workspace=workspace, endpoint=document,
                 deployments=svc.list_deployments(document["name"]),
                 jobs=svc.list_jobs(endpoint_name=document["name"], max_results=RECENT_JOBS),
                 links=_links(workspace))


@router.get(JOB)
def job_page(request: Request, workspace: str, name: str, log: str | None = None
             ) -> HTMLResponse:
    svc = _service(request, workspace)
    view = _job_view(svc, workspace, name)
    record = view["activity"].record
    shown_log = log or record.log_file.removeprefix("logs/")
    return _page("job.html", **view, shown_log=shown_log,
                 log_text=_log_tail(svc, name, shown_log, explicit=log is not None),
                 commands=svc.reproduce_job(name))


@router.get(JOB + "/live")
def job_live(request: Request, workspace: str, name: str) -> HTMLResponse:
    """The part of the job page that changes while it runs, for the page's script."""
    return _page("job_live.html", **_job_view(_service(request, workspace), workspace, name))


@router.get(JOB + "/files/{area}/{relative:path}")
def job_file(request: Request, workspace: str, name: str, area: str, relative: str) -> Response:
    """A log (shown as text) or an output file (downloaded), by its path in the job."""
    path = _service(request, workspace).job_file(name, area, relative)
    if area == "logs":
        return FileResponse(path, media_type="text/plain; charset=utf-8",
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Content-Security-Policy": "default-src 'none'"})
    # an output is the user's file: never rendered as a page of this origin
    return FileResponse(path, filename=path.name, media_type="application/octet-stream",
                        headers={"X-Content-Type-Options": "nosniff"})


def _links(workspace: str) -> dict[str, str]:
    base = WORKSPACE.format(workspace=quote(workspace))
    return {"workspace": base, "static": ROOT + "/static",
            "endpoint": base + "/endpoints/", "job": base + "/jobs/"}


def _job_view(svc: BatchService, workspace: str, name: str) -> dict:
    activity = svc.job_activity(name)
    record = activity.record
    end = record.end_time or time.time()
    by_mini_batch: dict[int, list[AttemptMark]] = defaultdict(list)
    for mark in activity.attempts:
        by_mini_batch[mark.mini_batch].append(mark)
    durations = {number: sum(mark.elapsed for mark in marks)
                 for number, marks in by_mini_batch.items()}
    slowest = sorted(durations, key=durations.__getitem__, reverse=True)[:SLOWEST_SHOWN]
    steps = [(step["name"].removeprefix(f"{record.name}-"), step) for step in activity.steps]
    return {
        "workspace": workspace, "links": _links(workspace), "activity": activity,
        "record": record, "document": activity.document,
        "terminal": record.is_terminal and not activity.document["status"].endswith("Requested"),
        "refresh_seconds": REFRESH_SECONDS,
        "retried": sum(1 for marks in by_mini_batch.values() if len(marks) > 1
                       or marks[-1].attempts > 1),
        "timeline": charts.timeline(activity.attempts, _declared_rows(record.settings),
                                    record.start_time, end) if activity.attempts or
        not activity.steps else None,
        "histogram": charts.histogram(list(durations.values())) if durations else None,
        "slowest": [(number, durations[number], by_mini_batch[number]) for number in slowest],
        "failures": [(failure, by_mini_batch.get(failure.id, []))
                     for failure in sorted(record.failed_mini_batches, key=lambda f: f.id)],
        "graph": charts.step_graph(steps, activity.waits_for) if steps else None,
        "durations": [(earlier[0], later[1] - earlier[1]) for earlier, later in
                      zip(record.status_history, [*record.status_history[1:], (None, end)],
                          strict=True)],
    }


def _declared_rows(settings: dict) -> list[str]:
    """Every scoring process the job asked for, so that one that scored nothing shows."""
    instances = settings.get("instance_count")
    processes = settings.get("max_concurrency_per_instance")
    if not isinstance(instances, int) or not isinstance(processes, int):
        return []
    if instances * processes > charts.MAX_DECLARED_ROWS:
        return []
    return [f"instance-{i} / process{p:03d}" for i in range(instances) for p in range(processes)]


def _log_tail(svc: BatchService, name: str, relative: str, explicit: bool) -> str | None:
    """The end of a log of the job; None when a job has no such log (yet)."""
    try:
        path = svc.job_file(name, "logs", relative)
    except EmulatorError:
        if explicit:
            raise
        return None
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        file.seek(max(0, size - LOG_SHOWN_BYTES))
        text = file.read().decode("utf-8", errors="replace")
    if size > LOG_SHOWN_BYTES:
        return f"[... the first {size - LOG_SHOWN_BYTES} bytes: open the file to read them]\n" \
            + text.partition("\n")[2]
    return text

