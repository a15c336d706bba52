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


STUDIO_COOKIE = "batch_emulator_studio"


class StudioSignIn(Exception):
    """A valid ``?token=`` on a Studio page: answered by setting the pages' cookie."""

    def __init__(self, token: str):
        super().__init__("signed in")
        self.token = token


def studio(request: Request) -> None:
    """The Studio pages: open on loopback; beyond it, a token of either plane, given as a
    bearer header, as ``?token=`` (kept as a cookie) or as that cookie."""
    if getattr(request.app.state, "open_pages", False):
        return
    given = request.query_params.get("token")
    if given:
        _verify_either(request, given)
        raise StudioSignIn(given)
    cookie = request.cookies.get(STUDIO_COOKIE)
    if cookie:
        _verify_either(request, cookie)
        return
    if request.headers.get("authorization"):
        either_plane(request)
        return
    raise AuthenticationError(
        "Authentication failed: this server listens beyond loopback, so its Studio pages need "
        "a token; open the page once with ?token=<the accessToken of 'batch-emulator account "
        "get-access-token'> (a cookie keeps it), or send 'Authorization: Bearer <token>'")


def _verify_either(request: Request, token: str) -> dict:
    home = request.app.state.home
    return home_operations.verify_token(home, token, home_operations.MANAGEMENT_RESOURCE,
                                        (home_operations.ML_RESOURCE,))
