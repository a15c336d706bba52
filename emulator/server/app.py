"""The FastAPI application: one service and store shared with the CLI (SPEC §10).

Control plane at Azure's ARM paths (token audience https://management.azure.com), data plane
at each endpoint's ``scoring_uri`` (audience https://ml.azure.com). Errors are Azure's
``{"error": {"code", "message"}}``; bodies over 1 MiB are refused with 413.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from emulator import __version__
from emulator.exceptions import EmulatorError, NotSupportedError
from emulator.server import (
    asset_routes,
    control_plane,
    data_plane,
    discovery,
    history,
    pipeline_routes,
    studio,
    workspace_routes,
)
from emulator.service import home as home_operations

MAX_BODY_BYTES = 1024 * 1024


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


class BodySizeLimit:
    """Refuse bodies over ``limit`` bytes (413) before the application reads them."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(scope, receive, send)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                return await self._refuse(scope, receive, send)
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        response = error(413, "RequestEntityTooLarge",
                         f"The request body is larger than {self.limit} bytes; send less data "
                         "per request (inputs are referenced by URI, not uploaded)")
        await response(scope, receive, send)


AZURE_COMPATIBLE_ML_AUDIENCE = "https://ml.azure.local"  # what the SDK derives from our portal


def create_app(home: str | Path | None = None, public_url: str | None = None,
               azure_compatible: bool = False, workspace: str | None = None,
               open_pages: bool = False) -> FastAPI:
    """The app over ``home``; the data plane serves ``workspace`` (default: the configured
    one). ``open_pages``: the Studio pages need no token (a server on loopback)."""
    app = FastAPI(
        title="batch-endpoint-emulator",
        version=__version__,
        description="Azure ML batch endpoints, locally: ARM control plane and the batch "
                    "endpoint data plane. Tokens: 'batch-emulator account get-access-token "
                    "--resource https://management.azure.com' (control plane) or "
                    "'--resource https://ml.azure.com' (data plane).",
    )
    app.state.home = home_operations.resolve_home(home)
    app.state.workspace = workspace
    app.state.public_url = public_url
    app.state.azure_compatible = azure_compatible
    app.state.open_pages = open_pages
    app.state.extra_audiences = {"https://ml.azure.com": (AZURE_COMPATIBLE_ML_AUDIENCE,)} \
        if azure_compatible else {}
    app.add_middleware(BodySizeLimit)

    _answer_errors_as_azure_does(app)
    app.include_router(control_plane.router)
    app.include_router(pipeline_routes.router)  # before asset_routes: its component GETs
    app.include_router(asset_routes.router)
    app.include_router(workspace_routes.router)
    app.include_router(data_plane.router)
    app.include_router(history.router)
    studio.install(app)

    app.include_router(discovery.router)

    app.openapi = lambda: _openapi(app)
    return app


def _answer_errors_as_azure_does(app: FastAPI) -> None:
    """Every error as Azure's ``{"error": {"code", "message"}}`` with the error's status."""

    @app.exception_handler(EmulatorError)
    async def emulator_error(request: Request, exc: EmulatorError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return error(exc.http_status, exc.code, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error(400, "BadRequest", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code in (404, 405):  # no route has this path, or not this method
            return error(exc.status_code, NotSupportedError.code, _unsupported(request),
                         exc.headers)
        return error(exc.status_code, "Error", str(exc.detail), exc.headers)

    @app.exception_handler(json.JSONDecodeError)
    async def bad_json(request: Request, exc: json.JSONDecodeError):
        return error(400, "BadRequest", f"the request body is not valid JSON: {exc}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        return error(500, "InternalServerError", f"{type(exc).__name__}: {exc}")


ARM_WORKSPACE = "/providers/Microsoft.MachineLearningServices/workspaces/"


def _unsupported(request: Request) -> str:
    """What a request the emulator has no route for asked, named by its method and ARM
    resource path (the part after the workspace): Azure serves it, the emulator does not."""
    path = request.url.path
    _, found, rest = path.partition(ARM_WORKSPACE)
    what = rest.partition("/")[2] if found and "/" in rest else path
    return (f"not supported by the emulator: {request.method} {what}. It serves batch "
            "endpoints, their deployments and jobs, and the assets, datastores and computes "
            f"they use; its routes are listed at {str(request.base_url).rstrip('/')}/docs")


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, plus the bearer scheme; no 422 (validation errors answer 400)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version,
                           description=app.description, routes=app.routes)
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "From 'batch-emulator account get-access-token --resource R': R is "
                       "https://management.azure.com for /subscriptions, https://ml.azure.com "
                       "for /endpoints"}
    for item in document["paths"].values():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
            operation["security"] = [{"bearer": []}]
    for unused in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(unused, None)
    app.openapi_schema = document
    return document
