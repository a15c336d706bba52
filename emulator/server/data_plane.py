"""The batch endpoint data plane: ``POST <scoring_uri>`` starts a job, ``GET <scoring_uri>/<id>``
reports it (token audience https://ml.azure.com)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from emulator.exceptions import ResourceNotFoundError
from emulator.server import pipeline_translate, security, translate
from emulator.server.control_plane import json_body
from emulator.server.models import INVOKE_BODY, ArmList, ArmResource, error_responses
from emulator.server.models import json_body as body_schema
from emulator.service import BatchService

router = APIRouter(dependencies=[Depends(security.data_plane)], tags=["data plane"])


def service(request: Request) -> BatchService:
    """The data plane serves the workspace ``serve -w`` named, else the configured default."""
    return BatchService(home=request.app.state.home, workspace=request.app.state.workspace)


def endpoint_id(svc: BatchService, endpoint: str) -> str:
    return svc.show_endpoint(endpoint)["id"]


@router.post("/endpoints/{endpoint}/jobs", response_model=ArmResource,
             responses=error_responses(400, 401, 404, 409, 413),
             openapi_extra=body_schema(INVOKE_BODY, "What to score and where to write"))
async def invoke(request: Request, endpoint: str,
                 azureml_model_deployment: str | None = Header(
                     None, description="Deployment to use instead of the default")) -> dict:
    """Invoke the endpoint: the preview body (properties.dataset, outputDataset,
    outputFileName) or the GA body (properties.InputData / OutputData); a pipeline
    deployment takes named inputs (``Literal`` ones too) and outputs."""
    body = await json_body(request)
    svc = service(request)
    deployment = azureml_model_deployment or None
    target = svc.invoke_deployment(endpoint, deployment)  # no deployment: said before inputs
    if target.get("type") == "pipeline":
        inputs, outputs = pipeline_translate.invoke_inputs_in(body)
        document = await run_in_threadpool(  # resolves the pipeline, copies remote inputs
            lambda: svc.invoke(endpoint, deployment_name=deployment, named_inputs=inputs,
                               named_outputs=outputs))
        return pipeline_translate.pipeline_batch_job_out(document, endpoint_id(svc, endpoint))
    arguments = translate.invoke_in(body)
    document = await run_in_threadpool(  # lists the input, checks the output
        lambda: svc.invoke(endpoint, deployment_name=deployment, **arguments))
    return translate.batch_job_out(document, endpoint_id(svc, endpoint))


@router.get("/endpoints/{endpoint}/jobs", response_model=ArmList,
            responses=error_responses(400, 401, 404))
def list_jobs(request: Request, endpoint: str) -> dict:
    svc = service(request)
    identity = endpoint_id(svc, endpoint)
    return {"value": [translate.batch_job_out(j, identity)
                      for j in svc.list_jobs(endpoint_name=endpoint)]}


@router.get("/endpoints/{endpoint}/jobs/{job}", response_model=ArmResource,
            responses=error_responses(400, 401, 404))
def get_job(request: Request, endpoint: str, job: str) -> dict:
    svc = service(request)
    identity = endpoint_id(svc, endpoint)
    document = svc.show_job(job)
    if document["properties"]["endpoint_name"].lower() != endpoint.lower():
        raise ResourceNotFoundError(f"job {job} does not belong to endpoint {endpoint}")
    return translate.batch_job_out(document, identity)


MFE = ("/mferp/managementfrontend/subscriptions/{subscription}/resourceGroups/{resource_group}/"
       "providers/Microsoft.MachineLearningServices/workspaces/{workspace}/batchEndpoints/"
       "{endpoint}")


@router.get(MFE + "/jobs", response_model=ArmList, responses=error_responses(400, 401, 404),
            include_in_schema=False)
def list_jobs_mfe(request: Request, subscription: str, resource_group: str, workspace: str,
                  endpoint: str) -> dict:
    """The regional front end's job list, as ``batch_endpoints.list_jobs`` reads it."""
    svc = BatchService(home=request.app.state.home, workspace=workspace, create=False)
    identity = svc.show_endpoint(endpoint)["id"]
    return {"value": [translate.batch_job_out(j, identity)
                      for j in svc.list_jobs(endpoint_name=endpoint)]}


@router.get(MFE + "/deployments/{deployment}/jobs", response_model=ArmList,
            responses=error_responses(400, 401, 404), include_in_schema=False)
def list_deployment_jobs_mfe(request: Request, subscription: str, resource_group: str,
                             workspace: str, endpoint: str, deployment: str) -> dict:
    svc = BatchService(home=request.app.state.home, workspace=workspace, create=False)
    identity = svc.show_endpoint(endpoint)["id"]
    return {"value": [translate.batch_job_out(j, identity) for j in
                      svc.list_jobs(endpoint_name=endpoint, deployment_name=deployment)]}
