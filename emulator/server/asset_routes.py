"""ARM routes for the assets Azure's SDK registers and reads: code, environment, model and data
containers and versions. The SDK uploads files to the workspace blob store (Azurite) first,
then PUTs a version naming them; registration copies them into the workspace. Bodies are
Azure's camelCase shapes; any api-version is accepted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from emulator.exceptions import NotSupportedError, ValidationError
from emulator.model.references import SEGMENTS
from emulator.server import security, translate
from emulator.server.control_plane import WS, ApiVersion, json_body, service
from emulator.server.translate import lower_keys

router = APIRouter(dependencies=[Depends(security.management)], include_in_schema=False)
MODEL_TYPES = {"custommodel": "custom_model", "mlflowmodel": "mlflow_model",
               "tritonmodel": "triton_model"}
DATA_TYPES = {"urifolder": "uri_folder", "urifile": "uri_file", "mltable": "mltable"}
Top = Annotated[int | None, Query(alias="$top", ge=0)]


# ----------------------------------------------------------------------------- reads


def _read_routes(kind: str) -> None:
    """Containers (the latest version of each name) and versions (newest first)."""
    segment = SEGMENTS[kind]

    def list_containers(request: Request, subscription: str, resource_group: str,
                        workspace: str, api_version: ApiVersion = None) -> dict:
        svc = service(request, subscription, resource_group, workspace)
        return {"value": [translate.container_out(
            svc.scope, kind, svc.show_asset_container(kind, latest["name"]))
            for latest in svc.list_assets(kind)]}

    def get_container(request: Request, subscription: str, resource_group: str,
                      workspace: str, name: str, api_version: ApiVersion = None) -> dict:
        svc = service(request, subscription, resource_group, workspace)
        return translate.container_out(svc.scope, kind, svc.show_asset_container(kind, name))

    def list_versions(request: Request, subscription: str, resource_group: str, workspace: str,
                      name: str, top: Top = None, hash: str | None = None,
                      api_version: ApiVersion = None) -> dict:
        """Newest first: the SDK asks ``$orderBy=createdtime desc&$top=1`` for the latest."""
        svc = service(request, subscription, resource_group, workspace)
        if hash and kind == "code":  # the SDK's check for code it uploaded before
            found = svc.find_code(hash)
        else:
            found = svc.list_asset_versions(kind, name)
        return {"value": [translate.version_out(svc.scope, kind, body) for body in found[:top]]}

    def get_version(request: Request, subscription: str, resource_group: str, workspace: str,
                    name: str, version: str, api_version: ApiVersion = None) -> dict:
        svc = service(request, subscription, resource_group, workspace)
        return translate.version_out(svc.scope, kind, svc.show_asset(kind, name, version))

    base = f"{WS}/{segment}"
    router.add_api_route(base, list_containers, methods=["GET"])
    router.add_api_route(base + "/{name}", get_container, methods=["GET"])
    router.add_api_route(base + "/{name}/versions", list_versions, methods=["GET"])
    router.add_api_route(base + "/{name}/versions/{version}", get_version, methods=["GET"])


for _kind in SEGMENTS:
    if _kind != "component":  # components have routes of their own (pipeline_routes)
        _read_routes(_kind)


# ----------------------------------------------------------------------------- writes


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


# kind: (the body's URI field, its type field and Azure's spellings, whether a type is needed)
UPLOADED: dict[str, tuple[str, str | None, dict[str, str], bool]] = {
    "code": ("codeUri", None, {}, False),
    "model": ("modelUri", "modelType", MODEL_TYPES, False),
    "data": ("dataUri", "dataType", DATA_TYPES, True),
}


def _upload_route(kind: str) -> None:
    """PUT of a version whose files the SDK uploaded; the download and copy happen in a
    worker thread, so the server keeps answering."""
    uri_field, type_field, types, type_needed = UPLOADED[kind]

    async def put_version(request: Request, response: Response, subscription: str,
                          resource_group: str, workspace: str, name: str, version: str,
                          api_version: ApiVersion = None) -> dict:
        properties = _properties(await json_body(request))
        fields = _typed(properties, type_field.lower(), types) if type_field else \
            _common(properties)
        if type_needed and "type" not in fields:
            raise ValidationError(f"properties.{type_field} is required: "
                                  f"{' or '.join(sorted(set(types.values())))}")
        svc = service(request, subscription, resource_group, workspace)
        body, created = await run_in_threadpool(svc.register_uploaded, kind, name, version,
                                                _uri(properties, uri_field), fields)
        response.status_code = 201 if created else 200
        return translate.version_out(svc.scope, kind, body)

    router.add_api_route(f"{WS}/{SEGMENTS[kind]}/{{name}}/versions/{{version}}",
                         put_version, methods=["PUT"])


for _kind in UPLOADED:
    _upload_route(_kind)


@router.put(WS + "/environments/{name}/versions/{version}")
async def put_environment_version(request: Request, response: Response, subscription: str,
                                  resource_group: str, workspace: str, name: str, version: str,
                                  api_version: ApiVersion = None) -> dict:
    properties = _properties(await json_body(request))
    if properties.get("build"):
        raise NotSupportedError("environments built from a build context are not supported; "
                                "give properties.image (and condaFile)")
    if not properties.get("image"):
        raise ValidationError("properties.image is required: the environment's base image")
    svc = service(request, subscription, resource_group, workspace)
    body, created = await run_in_threadpool(svc.register_inline_environment, name, version, {
        **_common(properties), "image": properties.get("image"),
        "conda_file": properties.get("condafile")})
    response.status_code = 201 if created else 200
    return translate.version_out(svc.scope, "environment", body)


# ----------------------------------------------------------------------------- helpers


def _properties(body: dict) -> dict:
    properties = lower_keys(body.get("properties"))
    if not properties:
        raise ValidationError("the request body needs a 'properties' object")
    return properties


def _uri(properties: dict, field: str) -> str:
    uri = properties.get(field.lower())
    if not uri or not isinstance(uri, str):
        raise ValidationError(f"properties.{field} is required, a string: where the files were "
                              "uploaded")
    return uri


def _typed(properties: dict, field: str, types: dict[str, str]) -> dict[str, Any]:
    """The common fields, plus ``type`` from Azure's spelling (``UriFolder``, ``custom_model``)."""
    fields = _common(properties)
    given = properties.get(field)
    if given:  # an unknown spelling is left for the schema to refuse
        fields["type"] = types.get(str(given).lower().replace("_", ""), given)
    return fields


def _common(properties: dict) -> dict[str, Any]:
    fields = {"description": properties.get("description"), "tags": properties.get("tags"),
              "properties": properties.get("properties")}
    return {k: v for k, v in fields.items() if v not in (None, {}, "")}
