"""ARM routes for what Azure's SDK registers before a deployment: code, environment and model
versions, and the workspace blob datastore it uploads them to (with ``listSecrets`` handing out
a SAS for Azurite). Bodies are Azure's camelCase shapes; any api-version is accepted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from emulator import assets, schemas
from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.server import security
from emulator.server.control_plane import WS, ApiVersion, json_body, service, system_data
from emulator.server.translate import lower_keys
from emulator.service import BatchService
from emulator.workspace import DEFAULT_DATASTORE

router = APIRouter(dependencies=[Depends(security.management)], include_in_schema=False)
MODEL_TYPES = {"custom_model": "custom_model", "mlflow_model": "mlflow_model",
               "custommodel": "custom_model", "mlflowmodel": "mlflow_model",
               "triton_model": "triton_model"}


def _version_out(svc: BatchService, kind: str, body: dict, properties: dict) -> dict:
    segment = assets.SEGMENTS[kind]
    return {"id": assets.arm_id(svc.store, segment, body["name"], body["version"]),
            "name": body["version"],
            "type": f"Microsoft.MachineLearningServices/workspaces/{segment}/versions",
            "systemData": system_data(body),
            "properties": {"description": body.get("description"), "tags": body.get("tags") or {},
                           "properties": body.get("properties") or {}, "isArchived": False,
                           "isAnonymous": bool(body.get("is_anonymous")),
                           "provisioningState": "Succeeded", **properties}}


def _answer(response: Response, created: bool) -> None:
    response.status_code = 201 if created else 200


# ----------------------------------------------------------------------------- code


def code_out(svc: BatchService, body: dict) -> dict:
    return _version_out(svc, "code", body, {"codeUri": body.get("path")})


@router.get(WS + "/codes/{name}/versions")
def list_code_versions(request: Request, subscription: str, resource_group: str, workspace: str,
                       name: str, hash: str | None = None,
                       api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    found = svc.find_code(hash) if hash else svc.store.list("code", name=name)
    return {"value": [code_out(svc, body) for body in found]}


@router.get(WS + "/codes/{name}/versions/{version}")
def get_code_version(request: Request, subscription: str, resource_group: str, workspace: str,
                     name: str, version: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return code_out(svc, assets.resolve(svc.store, "code", f"azureml:{name}:{version}"))


@router.post(WS + "/codes/{name}/versions/{version}/startPendingUpload")
def start_pending_upload(request: Request, subscription: str, resource_group: str,
                         workspace: str, name: str, version: str,
                         api_version: ApiVersion = None) -> dict:
    upload = service(request, subscription, resource_group, workspace).start_pending_upload()
    return {"blobReferenceForConsumption": {
                "blobUri": upload["blob_uri"], "storageAccountArmId": None,
                "credential": {"credentialType": "SAS", "sasUri": upload["sas_uri"]}},
            "pendingUploadId": upload["blob_uri"].rsplit("/", 1)[-1],
            "pendingUploadType": "TemporaryBlobReference"}


@router.put(WS + "/codes/{name}/versions/{version}")
async def put_code_version(request: Request, response: Response, subscription: str,
                           resource_group: str, workspace: str, name: str, version: str,
                           api_version: ApiVersion = None) -> dict:
    properties = _properties(await json_body(request))
    uri = properties.get("codeuri")
    if not uri:
        raise ValidationError("properties.codeUri is required: where the code was uploaded")
    svc = service(request, subscription, resource_group, workspace)
    body, created = svc.register_uploaded("code", name, version, uri, _common(properties))
    _answer(response, created)
    return code_out(svc, body)


# ----------------------------------------------------------------------------- environments


def environment_out(svc: BatchService, body: dict) -> dict:
    conda = None
    if body.get("local_path"):
        from pathlib import Path

        conda = Path(body["local_path"]).read_text(encoding="utf-8")
    return _version_out(svc, "environment", body, {
        "image": body.get("image"), "condaFile": conda, "osType": "Linux",
        "environmentType": "UserCreated"})


@router.get(WS + "/environments/{name}/versions/{version}")
def get_environment_version(request: Request, subscription: str, resource_group: str,
                            workspace: str, name: str, version: str,
                            api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return environment_out(svc, assets.resolve(svc.store, "environment",
                                               f"azureml:{name}:{version}"))


@router.put(WS + "/environments/{name}/versions/{version}")
async def put_environment_version(request: Request, response: Response, subscription: str,
                                  resource_group: str, workspace: str, name: str, version: str,
                                  api_version: ApiVersion = None) -> dict:
    properties = _properties(await json_body(request))
    if not properties.get("image") and not properties.get("build"):
        raise ValidationError("properties.image is required: the environment's base image")
    svc = service(request, subscription, resource_group, workspace)
    body, created = svc.register_inline_environment(name, version, {
        **_common(properties), "image": properties.get("image"),
        "conda_file": properties.get("condafile")})
    _answer(response, created)
    return environment_out(svc, body)


# ----------------------------------------------------------------------------- models


def model_out(svc: BatchService, body: dict) -> dict:
    return _version_out(svc, "model", body, {
        "modelType": body.get("type"), "modelUri": body.get("path"),
        "flavors": body.get("flavors") or {}, "jobName": None, "stage": None})


@router.get(WS + "/models/{name}")
def get_model_container(request: Request, subscription: str, resource_group: str,
                        workspace: str, name: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    latest = assets.resolve(svc.store, "model", f"azureml:{name}@latest")
    return {"id": assets.arm_id(svc.store, "models", latest["name"]), "name": latest["name"],
            "type": "Microsoft.MachineLearningServices/workspaces/models",
            "systemData": system_data(latest),
            "properties": {"latestVersion": latest["version"], "nextVersion": str(
                assets.next_version(svc.store, "model", latest["name"])),
                "isArchived": False, "tags": {}, "properties": {}}}


@router.get(WS + "/models/{name}/versions")
def list_model_versions(request: Request, subscription: str, resource_group: str,
                        workspace: str, name: str,
                        top: Annotated[int | None, Query(alias="$top")] = None,
                        api_version: ApiVersion = None) -> dict:
    """Newest first (the SDK asks ``$orderBy=createdtime desc&$top=1`` for the next version)."""
    svc = service(request, subscription, resource_group, workspace)
    found = sorted(svc.store.list("model", name=name), key=assets.version_key, reverse=True)
    return {"value": [model_out(svc, body) for body in found[:top]]}


@router.get(WS + "/models/{name}/versions/{version}")
def get_model_version(request: Request, subscription: str, resource_group: str, workspace: str,
                      name: str, version: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return model_out(svc, assets.resolve(svc.store, "model", f"azureml:{name}:{version}"))


@router.put(WS + "/models/{name}/versions/{version}")
async def put_model_version(request: Request, response: Response, subscription: str,
                            resource_group: str, workspace: str, name: str, version: str,
                            api_version: ApiVersion = None) -> dict:
    properties = _properties(await json_body(request))
    uri = properties.get("modeluri")
    if not uri:
        raise ValidationError("properties.modelUri is required: where the model was uploaded")
    model_type = str(properties.get("modeltype") or "")
    fields = schemas.fill_defaults("model", {
        **_common(properties), **({"type": MODEL_TYPES.get(model_type.lower(), model_type)}
                                  if model_type else {})})
    svc = service(request, subscription, resource_group, workspace)
    body, created = svc.register_uploaded("model", name, version, uri, fields)
    _answer(response, created)
    return model_out(svc, body)


# ----------------------------------------------------------------------------- datastores


def datastore_out(svc: BatchService, body: dict) -> dict:
    return {"id": body["id"], "name": body["name"],
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "systemData": {},
            "properties": {"datastoreType": "AzureBlob", "accountName": body["account_name"],
                           "containerName": body["container_name"],
                           "endpoint": "core.windows.net", "protocol": "https",
                           "isDefault": bool(body.get("is_default")),
                           "credentials": {"credentialsType": "AccountKey"},
                           "serviceDataAccessAuthIdentity": "None", "tags": {},
                           "properties": {}}}


@router.get(WS + "/datastores")
def list_datastores(request: Request, subscription: str, resource_group: str, workspace: str,
                    is_default: Annotated[bool | None, Query(alias="isDefault")] = None,
                    api_version: ApiVersion = None) -> dict:
    """The datastores Azure's SDK can upload to: the workspace blob store (in Azurite)."""
    svc = service(request, subscription, resource_group, workspace)
    svc.require_blob_store()
    return {"value": [datastore_out(svc, svc.show_datastore(DEFAULT_DATASTORE))]}


@router.get(WS + "/datastores/{name}")
def get_datastore(request: Request, subscription: str, resource_group: str, workspace: str,
                  name: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    if name.lower() != DEFAULT_DATASTORE:
        svc.show_datastore(name)  # raises for an unknown name
        raise ResourceNotFoundError(f"datastore {name!r} is not an Azure Blob datastore this "
                                    f"server can hand to Azure's SDK; use {DEFAULT_DATASTORE}")
    svc.require_blob_store()
    return datastore_out(svc, svc.show_datastore(name))


@router.post(WS + "/datastores/{name}/listSecrets")
def list_datastore_secrets(request: Request, subscription: str, resource_group: str,
                           workspace: str, name: str, api_version: ApiVersion = None) -> dict:
    svc = service(request, subscription, resource_group, workspace)
    return {"secretsType": "Sas", "sasToken": svc.datastore_secrets(name)["sas_token"]}


# ----------------------------------------------------------------------------- helpers


def _properties(body: dict) -> dict:
    properties = lower_keys(body.get("properties"))
    if not properties:
        raise ValidationError("the request body needs a 'properties' object")
    return properties


def _common(properties: dict) -> dict[str, Any]:
    fields = {"description": properties.get("description"), "tags": properties.get("tags"),
              "properties": properties.get("properties"),
              "is_anonymous": properties.get("isanonymous")}
    return {k: v for k, v in fields.items() if v not in (None, {}, "")}
