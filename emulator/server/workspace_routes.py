"""ARM routes for a workspace's datastores and computes as Azure's SDK reads and writes them.
The SDK uploads only to the workspace blob store: it is served while Azurite runs, and
``listSecrets`` hands out a container SAS for it. Computes map to Azure's compute types
(an emulator ``dask`` compute shows as AmlCompute, Azure having no such type)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from emulator.exceptions import ResourceNotFoundError
from emulator.model.uris import DEFAULT_DATASTORE
from emulator.server import security, translate
from emulator.server.control_plane import (
    WS,
    ApiVersion,
    json_body,
    operation_header,
    service,
)

router = APIRouter(dependencies=[Depends(security.management)], include_in_schema=False)


# ----------------------------------------------------------------------------- datastores


@router.get(WS + "/datastores")
def list_datastores(request: Request, subscription: str, resource_group: str, workspace: str,
                    is_default: Annotated[bool | None, Query(alias="isDefault")] = None,
                    api_version: ApiVersion = None) -> dict:
    """The datastores Azure's SDK can upload to: the workspace blob store (in Azurite)."""
    svc = service(request, subscription, resource_group, workspace)
    svc.require_blob_store()
    return {"value": [translate.datastore_out(svc.show_datastore(DEFAULT_DATASTORE))]}


@router.get(WS + "/datastores/{name}")
def get_datastore(request: Request, subscription: str, resource_group: str, workspace: str,
                  name: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    if name.lower() != DEFAULT_DATASTORE:
        svc.show_datastore(name)  # raises for an unknown name
        raise ResourceNotFoundError(f"datastore {name!r} is not an Azure Blob datastore this "
                                    f"server can hand to Azure's SDK; use {DEFAULT_DATASTORE}")
    svc.require_blob_store()
    return translate.datastore_out(svc.show_datastore(name))


@router.post(WS + "/datastores/{name}/listSecrets")
def list_datastore_secrets(request: Request, subscription: str, resource_group: str,
                           workspace: str, name: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return {"secretsType": "Sas", "sasToken": svc.datastore_secrets(name)["sas_token"]}


# ----------------------------------------------------------------------------- computes


@router.get(WS + "/computes")
def list_computes(request: Request, subscription: str, resource_group: str, workspace: str,
                  api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return {"value": [translate.compute_out(body) for body in svc.list_computes()]}


@router.get(WS + "/computes/{name}")
def get_compute(request: Request, subscription: str, resource_group: str, workspace: str,
                name: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return translate.compute_out(svc.show_compute(name))


@router.put(WS + "/computes/{name}")
async def put_compute(request: Request, response: Response, subscription: str,
                      resource_group: str, workspace: str, name: str,
                      api_version: ApiVersion = None) -> dict:
    """An AmlCompute cluster (a LocalCluster of up to ``maxNodeCount`` workers per job)."""
    document = translate.compute_in(name, await json_body(request))
    svc = service(request, subscription, resource_group, workspace)
    body, created = svc.put_compute(document)
    response.status_code = 201 if created else 200
    response.headers.update(operation_header(request, subscription))
    return translate.compute_out(body)


@router.delete(WS + "/computes/{name}", status_code=200, response_model=None)
def delete_compute(request: Request, response: Response, subscription: str,
                   resource_group: str, workspace: str, name: str,
                   api_version: ApiVersion = None) -> None:
    """Refused (409) while jobs run on the compute: cancel them first."""
    svc = service(request, subscription, resource_group, workspace)
    svc.delete_compute(name)
    response.headers.update(operation_header(request, subscription))


@router.post(WS + "/computes/{name}/start", status_code=202, response_model=None)
def start_compute(request: Request, response: Response, subscription: str,
                  resource_group: str, workspace: str, name: str,
                  api_version: ApiVersion = None) -> None:
    service(request, subscription, resource_group, workspace).start_compute(name)
    response.headers.update(operation_header(request, subscription))


@router.post(WS + "/computes/{name}/stop", status_code=202, response_model=None)
def stop_compute(request: Request, response: Response, subscription: str,
                 resource_group: str, workspace: str, name: str,
                 api_version: ApiVersion = None) -> None:
    """Refused (409) while jobs run on the compute."""
    service(request, subscription, resource_group, workspace).stop_compute(name)
    response.headers.update(operation_header(request, subscription))
