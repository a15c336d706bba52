"""ARM control plane: workspaces, batch endpoints, deployments, jobs; long-running operations
answered as Azure's clients expect (PUT 200/201 + ``Azure-AsyncOperation``, any api-version)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.model.references import Scope
from emulator.model.schemas import Document
from emulator.server import pipeline_translate, security, translate
from emulator.server.models import (
    DEPLOYMENT_BODY,
    ENDPOINT_BODY,
    ArmJob,
    ArmList,
    ArmResource,
    OperationStatus,
    error_responses,
)
from emulator.server.models import (
    json_body as body_schema,
)
from emulator.service import BatchService

WS = ("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
      "Microsoft.MachineLearningServices/workspaces/{workspace}")
router = APIRouter(dependencies=[Depends(security.management)], tags=["control plane"])
ApiVersion = Annotated[str | None, Query(alias="api-version", description="Any version")]
READ = error_responses(400, 401, 404)
WRITE = {**error_responses(400, 401, 404, 409, 413),
         201: {"model": ArmResource, "description": "Created"}}
DELETE = {**READ, 204: {"description": "There was nothing to delete"}}
_OPERATIONS: set[str] = set()


def service(request: Request, subscription: str, resource_group: str,
            workspace: str) -> BatchService:
    """The service of the workspace the path names; reads never create a workspace."""
    return BatchService(home=request.app.state.home, workspace=workspace,
                        resource_group=resource_group, subscription=subscription,
                        create=request.method in ("PUT", "PATCH", "POST"))


async def json_body(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:  # not JSON, or not UTF-8
        raise ValidationError(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationError("the request body is nested too deeply; Azure's bodies are a "
                              "few levels deep") from None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    return body


def operation_header(request: Request, subscription: str) -> dict:
    operation = uuid.uuid4().hex
    _OPERATIONS.add(operation)
    base = str(request.base_url).rstrip("/")
    subscription = urllib.parse.quote(subscription, safe="")  # it becomes a header value
    return {"Azure-AsyncOperation": f"{base}/subscriptions/{subscription}/providers/"
                                    f"Microsoft.MachineLearningServices/locations/local/"
                                    f"mfeOperationsStatus/{operation}?api-version=2023-10-01",
            "Retry-After": "1"}


@router.get("/subscriptions/{subscription}/providers/Microsoft.MachineLearningServices/"
            "locations/{location}/mfeOperationsStatus/{operation}",
            response_model=OperationStatus, responses=READ)
def operation_status(subscription: str, location: str, operation: str,
                     api_version: ApiVersion = None) -> dict:
    if operation not in _OPERATIONS:
        raise ResourceNotFoundError(f"operation {operation} is unknown to this server")
    return {"status": "Succeeded"}


@router.get(WS, response_model=ArmResource, responses=READ)
def get_workspace(request: Request, subscription: str, resource_group: str, workspace: str,
                  api_version: ApiVersion = None) -> dict:
    return translate.workspace_out(Scope(subscription, resource_group, workspace),
                                   str(request.base_url).rstrip("/"))


# ----------------------------------------------------------------------------- endpoints


@router.get(WS + "/batchEndpoints", response_model=ArmList, responses=READ)
def list_endpoints(request: Request, subscription: str, resource_group: str, workspace: str,
                   api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return {"value": [translate.endpoint_out(e, {}) for e in svc.list_endpoints()]}


@router.get(WS + "/batchEndpoints/{endpoint}", response_model=ArmResource, responses=READ)
def get_endpoint(request: Request, subscription: str, resource_group: str, workspace: str,
                 endpoint: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return translate.endpoint_out(svc.show_endpoint(endpoint), {})


@router.put(WS + "/batchEndpoints/{endpoint}", response_model=ArmResource, responses=WRITE,
            status_code=200, openapi_extra=body_schema(ENDPOINT_BODY, "An ARM batch endpoint"))
async def put_endpoint(request: Request, response: Response, subscription: str,
                       resource_group: str, workspace: str, endpoint: str,
                       api_version: ApiVersion = None) -> dict:
    body = await json_body(request)
    svc = service(request, subscription, resource_group, workspace)
    document, created = svc.put_endpoint(endpoint, translate.endpoint_in(endpoint, body))
    response.status_code = 201 if created else 200
    response.headers.update(operation_header(request, subscription))
    return translate.endpoint_out(document, {})


@router.patch(WS + "/batchEndpoints/{endpoint}", response_model=ArmResource, responses=WRITE,
              openapi_extra=body_schema(ENDPOINT_BODY, "Fields to change"))
async def patch_endpoint(request: Request, response: Response, subscription: str,
                         resource_group: str, workspace: str, endpoint: str,
                         api_version: ApiVersion = None) -> dict:
    body = await json_body(request)
    svc = service(request, subscription, resource_group, workspace)
    document = svc.patch_endpoint(endpoint, translate.endpoint_in(endpoint, body))
    response.headers.update(operation_header(request, subscription))
    return translate.endpoint_out(document, {})


@router.delete(WS + "/batchEndpoints/{endpoint}", status_code=200, responses=DELETE,
               response_model=None)
def delete_endpoint(request: Request, response: Response, subscription: str,
                    resource_group: str, workspace: str, endpoint: str,
                    api_version: ApiVersion = None) -> None:
    svc = service(request, subscription, resource_group, workspace)
    if not svc.delete_endpoint(endpoint, missing_ok=True):
        response.status_code = 204


# ----------------------------------------------------------------------------- deployments


DEPLOYMENT = WS + "/batchEndpoints/{endpoint}/deployments/{deployment}"


@router.get(WS + "/batchEndpoints/{endpoint}/deployments", response_model=ArmList,
            responses=READ)
def list_deployments(request: Request, subscription: str, resource_group: str, workspace: str,
                     endpoint: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return {"value": [deployment_out(svc, d) for d in svc.list_deployments(endpoint)]}


@router.get(DEPLOYMENT, response_model=ArmResource, responses=READ)
def get_deployment(request: Request, subscription: str, resource_group: str, workspace: str,
                   endpoint: str, deployment: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return deployment_out(svc, svc.show_deployment(deployment, endpoint))


def deployment_out(svc: BatchService, document: dict) -> dict:
    """A model deployment, or a ``type: pipeline`` one."""
    if document.get("type") == "pipeline":
        return pipeline_translate.pipeline_deployment_out(document, svc.scope)
    return translate.deployment_out(svc.scope, document, {})


@router.put(DEPLOYMENT, response_model=ArmResource, responses=WRITE, status_code=200,
            openapi_extra=body_schema(DEPLOYMENT_BODY, "An ARM batch deployment"))
async def put_deployment(request: Request, response: Response, subscription: str,
                         resource_group: str, workspace: str, endpoint: str, deployment: str,
                         api_version: ApiVersion = None) -> dict:
    body = await json_body(request)
    svc = service(request, subscription, resource_group, workspace)
    if pipeline_translate.is_pipeline_deployment(body):
        return await _put_pipeline_deployment(request, response, svc, endpoint, deployment,
                                              body)
    data = translate.deployment_in(deployment, endpoint, body)
    document, created = await run_in_threadpool(  # registers and copies model and code
        svc.put_deployment, Document(data, "request body", {}), Path.cwd())
    response.status_code = 201 if created else 200
    response.headers.update(operation_header(request, subscription))
    return translate.deployment_out(svc.scope, document, {})


async def _put_pipeline_deployment(request: Request, response: Response, svc: BatchService,
                                   endpoint: str, deployment: str, body: dict) -> dict:
    """A PipelineComponent deployment: a registered pipeline component (or the component the
    SDK made of a pipeline job for ``job_definition=``) deployed ``type: pipeline``."""
    data = pipeline_translate.pipeline_deployment_in(deployment, endpoint, body)
    existed = any(d["name"] == deployment for d in svc.list_deployments(endpoint))
    document = await run_in_threadpool(
        svc.create_deployment, Document(data, "request body", {}), base=Path.cwd())
    response.status_code = 200 if existed else 201
    response.headers.update(operation_header(request, svc.subscription))
    return pipeline_translate.pipeline_deployment_out(document, svc.scope)


@router.delete(DEPLOYMENT, status_code=200, responses=DELETE, response_model=None)
def delete_deployment(request: Request, response: Response, subscription: str,
                      resource_group: str, workspace: str, endpoint: str, deployment: str,
                      api_version: ApiVersion = None) -> None:
    svc = service(request, subscription, resource_group, workspace)
    if not svc.delete_deployment(deployment, endpoint, missing_ok=True):
        response.status_code = 204


# ----------------------------------------------------------------------------- jobs


@router.get(WS + "/jobs", response_model=ArmList, responses=READ)
def list_jobs(request: Request, subscription: str, resource_group: str, workspace: str,
              api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return {"value": [job_out(svc, j) for j in svc.list_jobs()]}


@router.get(WS + "/jobs/{job}", response_model=ArmJob, responses=READ)
def get_job(request: Request, subscription: str, resource_group: str, workspace: str, job: str,
            api_version: ApiVersion = None) -> dict:
    """A job, or the scoring step of one (``<job>-batchscoring``, its one child run)."""
    svc = service(request, subscription, resource_group, workspace)
    document, step = svc.job_or_step(job)
    return job_out(svc, document, step)


def job_out(svc: BatchService, document: dict, step: bool = False) -> dict:
    """A batch job (or its scoring step), a pipeline job, or a pipeline's step (whose
    ``properties: null`` sends the SDK to run history for it)."""
    if document.get("parent_job_name") and not step:
        return pipeline_translate.step_job_out(document)
    if document.get("steps") is not None:
        component = svc.pipeline_job_component(document["name"]) or {}
        return pipeline_translate.pipeline_job_out({**document,
                                                    "jobs": component.get("jobs") or {}})
    return translate.job_out(document, step)


@router.post(WS + "/jobs/{job}/cancel", status_code=202, responses=READ, response_model=None)
def cancel_job(request: Request, subscription: str, resource_group: str, workspace: str,
               job: str, api_version: ApiVersion = None) -> None:
    service(request, subscription, resource_group, workspace).cancel_job(job)
