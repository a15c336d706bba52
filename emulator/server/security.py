"""Bearer tokens: the control plane wants https://management.azure.com, the data plane
https://ml.azure.com (SPEC §10); tokens come from ``account get-access-token``."""

from __future__ import annotations

from fastapi import Request

from emulator.exceptions import AuthenticationError
from emulator.service import home as home_operations


def require_token(request: Request, resource: str) -> dict:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "Authentication failed: the request has no 'Authorization: Bearer <token>' header; "
            f"get one with 'batch-emulator account get-access-token --resource {resource}'")
    also = tuple(getattr(request.app.state, "extra_audiences", {}).get(resource, ()))
    if resource == home_operations.MANAGEMENT_RESOURCE and getattr(request.app.state, "azure_compatible",
                                                        False):
        also += (str(request.base_url).rstrip("/"),)  # the SDK's resourceManager scope
    return home_operations.verify_token(request.app.state.home, token.strip(), resource, also)


def management(request: Request) -> dict:
    return require_token(request, home_operations.MANAGEMENT_RESOURCE)


def data_plane(request: Request) -> dict:
    return require_token(request, home_operations.ML_RESOURCE)


def either_plane(request: Request) -> dict:
    """Run history is called with either token, depending on the client."""
    try:
        return management(request)
    except AuthenticationError:
        return data_plane(request)
