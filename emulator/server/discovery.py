"""What Azure's clients read before they call the API: health, the ARM cloud metadata (no
auth), a workspace's discovery document, and each endpoint's OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter, Request

from emulator.service import home as home_operations

router = APIRouter(include_in_schema=False)


@router.get("/health", include_in_schema=False)
def health() -> dict:
    return {"status": "ok"}


@router.get("/metadata/endpoints", include_in_schema=False)
def cloud_metadata(request: Request) -> list:
    """The ARM cloud list Azure's SDK reads from ``ARM_CLOUD_METADATA_URL`` (no auth).

    The SDK builds blob URLs as ``https://<account>.blob.<storage suffix>``. With the
    suffix ``emu@127.0.0.1:<port>/<account>`` that is Azurite's path-style URL: everything
    before the ``@`` is URL user info, which the clients drop. No DNS entry is needed."""
    base = str(request.base_url).rstrip("/")
    storage = "core.windows.net"
    record = home_operations.running_blob_store(request.app.state.home)
    if record is not None:
        storage = "emu@" + record["account_url"].removeprefix("https://")
    return [{"name": "BatchEmulator", "portal": "https://portal.azure.local/",
             "resourceManager": f"{base}/",
             "authentication": {"loginEndpoint": f"{base}/login/",
                                "audiences": [f"{base}/"]},
             "suffixes": {"storage": storage}}]


@router.get("/discovery/workspaces/{workspace}", include_in_schema=False)
def discovery(request: Request, workspace: str) -> dict:
    """A workspace's discovery document: every regional service is this server."""
    base = str(request.base_url).rstrip("/")
    return {name: base for name in ("api", "catalog", "experimentation", "history",
                                     "modelmanagement", "gallery")}


@router.get("/endpoints/{endpoint}/swagger.json", include_in_schema=False)
def endpoint_openapi(request: Request, endpoint: str) -> dict:
    """An endpoint's ``openapi_uri``: the data-plane part of the document."""
    document = dict(request.app.openapi())
    document["paths"] = {path: item for path, item in document["paths"].items()
                         if path.startswith("/endpoints/")}
    return document
