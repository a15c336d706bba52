"""ARM routes of components and pipeline jobs, as Azure's SDK calls them
(``components.create_or_update|get``, ``jobs.create_or_update`` of a pipeline job). Each one
translates the body (``pipeline_translate``), calls the service and translates back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from emulator.exceptions import NotSupportedError
from emulator.model.schemas import Document
from emulator.server import pipeline_translate as pt
from emulator.server import security
from emulator.server.control_plane import WS, ApiVersion, job_out, json_body, service

router = APIRouter(dependencies=[Depends(security.management)], include_in_schema=False)
COMPONENT = WS + "/components/{name}"
Top = Annotated[int | None, Query(alias="$top", ge=0)]


@router.put(COMPONENT + "/versions/{version}")
async def put_component(request: Request, response: Response, subscription: str,
                        resource_group: str, workspace: str, name: str, version: str,
                        api_version: ApiVersion = None) -> dict:
    """A command or pipeline component; the SDK's anonymous steps; a component made from a
    pipeline job (``job_definition=``, marked by ``sourceJobId``)."""
    data = pt.component_in(name, version, await json_body(request))
    svc = service(request, subscription, resource_group, workspace)
    if data.get("source_job_id"):
        document = svc.register_job_component(name, version, data["source_job_id"])
    else:
        document = await run_in_threadpool(  # copies code, registers environments
            svc.create_component, document=Document(data, "request body", {}),
            base=Path.cwd())
    response.status_code = 201
    return pt.component_out(document, svc.scope)


@router.get(COMPONENT + "/versions/{version}")
def get_component(request: Request, subscription: str, resource_group: str, workspace: str,
                  name: str, version: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return pt.component_out(svc.show_component(name, version), svc.scope)


@router.get(COMPONENT + "/versions")
def list_component_versions(request: Request, subscription: str, resource_group: str,
                            workspace: str, name: str, top: Top = None,
                            api_version: ApiVersion = None) -> dict:
    """Newest first: the SDK resolves ``@latest`` with ``$orderBy=createdtime desc&$top=1``."""
    svc = service(request, subscription, resource_group, workspace)
    return {"value": [pt.component_out(body, svc.scope)
                      for body in svc.list_components(name)[:top]]}


@router.get(COMPONENT)
def get_component_container(request: Request, subscription: str, resource_group: str,
                            workspace: str, name: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return pt.component_container_out(svc.show_component(name), svc.scope, None)


@router.get(WS + "/components")
def list_component_containers(request: Request, subscription: str, resource_group: str,
                              workspace: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return {"value": [pt.component_container_out(body, svc.scope, None)
                      for body in svc.list_components()]}


@router.put(WS + "/jobs/{job}")
async def put_job(request: Request, response: Response, subscription: str,
                  resource_group: str, workspace: str, job: str,
                  api_version: ApiVersion = None) -> dict:
    """A pipeline job (YAML or the ``@pipeline`` DSL: the same body); other kinds of job are
    Azure's, not the emulator's."""
    body = await json_body(request)
    kind = pt.job_type(body)
    if kind.lower() != "pipeline":
        raise NotSupportedError(f"jobs of type {kind or 'unknown'!r} are not supported by the "
                                "emulator: it runs pipeline jobs (jobType Pipeline), whose "
                                "command steps run on Dask; wrap a command in a pipeline job")
    data = pt.pipeline_job_in(job, body)
    svc = service(request, subscription, resource_group, workspace)
    document = await run_in_threadpool(  # registers its components, resolves its inputs
        svc.create_job, document=Document(data, "request body", {}), base=Path.cwd(), name=job)
    response.status_code = 201
    return job_out(svc, document)

