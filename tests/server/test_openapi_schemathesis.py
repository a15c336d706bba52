"""Property-based checks of the live server against its own OpenAPI document (schemathesis).

Every operation is called with generated parameters and bodies, with a valid token of the
audience its plane wants (control plane https://management.azure.com, data plane
https://ml.azure.com): no 5xx, and every response matches the documented status codes,
content types and schemas.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from emulator.auth import MANAGEMENT_RESOURCE, ML_RESOURCE  # noqa: E402

CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
]
DATA_PLANE_PREFIX = "/endpoints/"


@pytest.fixture(scope="module")
def api_schema(live_server):
    return schemathesis.openapi.from_url(live_server.url + "/openapi.json", wait_for_schema=30)


@pytest.fixture(scope="module")
def bearer(live_server) -> dict[str, dict[str, str]]:
    """Authorization headers per plane, issued once for the module (they last an hour)."""
    return {plane: {"Authorization": f"Bearer {live_server.token(resource)}"}
            for plane, resource in (("data", ML_RESOURCE), ("control", MANAGEMENT_RESOURCE))}


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_served_openapi_holds(case, bearer):
    plane = "data" if case.operation.path.startswith(DATA_PLANE_PREFIX) else "control"
    case.call_and_validate(headers=bearer[plane], checks=CHECKS, timeout=30)
