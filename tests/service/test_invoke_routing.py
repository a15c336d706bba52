"""An invoke is routed to a deployment before anything about its inputs is looked at: an
endpoint without one says so (Azure's "No valid deployments to route to"), and a deployment
that does not exist is named, whatever the inputs. Through the Python service, the CLI and
REST alike; nothing is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator.exceptions import EmulatorError
from emulator.service import NO_ROUTE, BatchService
from emulator.workspace.auth import ML_RESOURCE, issue_token
from tests.helpers import run_cli, start_server, stop_server

MISSING_INPUT = "/no/such/folder"


@pytest.fixture(scope="module")
def served_home(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A home with an endpoint that has no deployment, served over REST."""
    home = tmp_path_factory.mktemp("routing") / "home"
    code, _, err = run_cli("ml", "batch-endpoint", "create", "-n", "bare-ep",
                           env={"BATCH_EMULATOR_HOME": str(home)})
    assert code == 0, err
    url, process = start_server(home)
    yield home, url
    stop_server(process)


def invoke(front: str, home: Path, url: str, deployment: str | None) -> str:
    """Invoke bare-ep on an input that does not exist; the error message."""
    if front == "python":
        with pytest.raises(EmulatorError) as raised:
            BatchService(home=home).invoke("bare-ep", input=MISSING_INPUT,
                                           deployment_name=deployment)
        return str(raised.value)
    if front == "cli":
        code, _, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "bare-ep", "--input",
                               MISSING_INPUT, "--input-path", f"folder:{MISSING_INPUT}",  # two
                               *(["-d", deployment] if deployment else []),
                               env={"BATCH_EMULATOR_HOME": str(home)})
        assert code != 0
        return err
    token = issue_token(home, ML_RESOURCE)["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    answer = httpx.post(f"{url}/endpoints/bare-ep/jobs", headers=headers, timeout=60,
                        json={"properties": {}})  # and no input at all
    assert answer.status_code in (400, 404)
    return answer.json()["error"]["message"]


@pytest.mark.parametrize("front", ["python", "cli", "rest"])
@pytest.mark.parametrize("deployment, says", [
    (None, NO_ROUTE),
    ("nope", "Deployment name nope not found for this endpoint (bare-ep)"),
], ids=["no-deployment", "unknown-deployment"])
def test_the_deployment_is_resolved_before_the_inputs(served_home, front, deployment, says):
    home, url = served_home
    assert says in invoke(front, home, url, deployment)
    assert BatchService(home=home).list_jobs() == []
