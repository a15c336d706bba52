"""Rules of the service, met through every front end alike: the Python service, the CLI and
REST. Each rule lives in one service method; these tests fail if a front end bypasses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from emulator.exceptions import ConflictError, ResourceNotFoundError
from emulator.service import BatchService
from emulator.workspace.auth import MANAGEMENT_RESOURCE, issue_token
from tests.helpers import run_cli, start_server, stop_server

WS = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
      "Microsoft.MachineLearningServices/workspaces/default")


@dataclass
class Answer:
    ok: bool
    conflict: bool
    message: str


@dataclass
class Front:
    """One way of asking the service; every method answers with an ``Answer``."""

    name: str
    home: Path
    url: str | None = None

    def _rest(self, path: str, body: dict) -> Answer:
        token = issue_token(self.home, MANAGEMENT_RESOURCE)["accessToken"]
        answer = httpx.put(f"{self.url}{WS}/{path}", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {token}"})
        return Answer(answer.status_code in (200, 201), answer.status_code == 409, answer.text)

    def _cli(self, *args: str) -> Answer:
        code, out, err = run_cli(*args, env={"BATCH_EMULATOR_HOME": str(self.home)})
        return Answer(code == 0, code == ConflictError.exit_code, out + err)

    def _python(self, call) -> Answer:
        try:
            call(BatchService(home=self.home))
        except ConflictError as exc:
            return Answer(False, True, str(exc))
        return Answer(True, False, "")

    def create_amlcompute(self, name: str) -> Answer:
        if self.name == "rest":
            return self._rest(f"computes/{name}", {"properties": {
                "computeType": "AmlCompute",
                "properties": {"scaleSettings": {"maxNodeCount": 2}}}})
        if self.name == "cli":
            return self._cli("ml", "compute", "create", "-n", name, "--type", "amlcompute",
                             "--max-instances", "2")
        return self._python(lambda svc: svc.create_compute(name=name, type="amlcompute",
                                                           max_instances=2))

    def register_data(self, name: str, version: str, folder: str) -> Answer:
        """A data version of a folder of the workspace blob store (a datastore URI)."""
        uri = f"azureml://datastores/workspaceblobstore/paths/{folder}/"
        if self.name == "rest":
            return self._rest(f"data/{name}/versions/{version}", {"properties": {
                "dataUri": uri, "dataType": "UriFolder"}})
        if self.name == "cli":
            return self._cli("ml", "data", "create", "-n", name, "-v", version, "--path", uri,
                             "--type", "uri_folder")
        return self._python(lambda svc: svc.create_data(name=name, version=version, path=uri,
                                                        type="uri_folder"))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("rules-home")
    url, process = start_server(home)
    yield home, url
    stop_server(process)


@pytest.fixture(params=["python", "cli", "rest"])
def front(request, tmp_path) -> Front:
    if request.param != "rest":
        return Front(request.param, tmp_path / "home")
    home, url = request.getfixturevalue("server")
    return Front("rest", home, url)


def _blob_folder(front: Front, folder: str) -> None:
    path = front.home / "default" / "datastores" / "workspaceblobstore" / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "x.csv").write_text("a\n1\n")


def test_a_computes_type_cannot_change(front, request):
    name = f"c-{request.node.callspec.id}"
    assert run_cli("ml", "compute", "create", "-n", name, "--type", "dask", "--set",
                   "scheduler_address=tcp://127.0.0.1:1",
                   env={"BATCH_EMULATOR_HOME": str(front.home)})[0] == 0
    answer = front.create_amlcompute(name)
    assert answer.conflict and not answer.ok
    assert "is a dask compute; a compute's type cannot change" in answer.message
    code, out, _ = run_cli("ml", "compute", "show", "-n", name, "--query", "type", "-o", "tsv",
                           env={"BATCH_EMULATOR_HOME": str(front.home)})
    assert (code, out) == (0, "dask\n")


def test_a_version_is_immutable_with_one_outcome(front, request):
    name = f"d-{request.node.callspec.id}"
    for folder in ("first", "second"):
        _blob_folder(front, folder)
    assert front.register_data(name, "1", "first").ok
    again = front.register_data(name, "1", "first")
    assert again.ok and not again.conflict  # the same definition again is that version
    changed = front.register_data(name, "1", "second")
    assert changed.conflict and "versions are immutable" in changed.message
    code, out, _ = run_cli("ml", "data", "show", "-n", name, "-v", "1",
                           env={"BATCH_EMULATOR_HOME": str(front.home)})
    assert code == 0 and json.loads(out)["path"].endswith("/first/")


def test_a_deployment_needs_a_compute_that_exists(front, tmp_path):
    env = {"BATCH_EMULATOR_HOME": str(front.home)}
    assert run_cli("ml", "batch-endpoint", "create", "-n", "rules-ep", env=env)[0] == 0
    if front.name == "rest":
        token = issue_token(front.home, MANAGEMENT_RESOURCE)["accessToken"]
        answer = httpx.put(f"{front.url}{WS}/batchEndpoints/rules-ep/deployments/rules-dp", timeout=60,
                           headers={"Authorization": f"Bearer {token}"}, json={"properties": {
                               "model": {"referenceType": "Id",
                                         "assetId": f"{WS}/models/m/versions/1"},
                               "compute": f"{WS}/computes/missing-cluster"}})
        refused, message = answer.status_code == 404, answer.json()["error"]["message"]
    else:
        deployment = tmp_path / "deployment.yml"
        deployment.write_text("name: rules-dp\nendpoint_name: rules-ep\ntype: model\nmodel: azureml:m:1\n"
                              "compute: azureml:missing-cluster\n")
        if front.name == "cli":
            code, _, message = run_cli("ml", "batch-deployment", "create", "-f", str(deployment),
                                       env=env)
            refused = code == 3
        else:
            with pytest.raises(ResourceNotFoundError) as raised:
                BatchService(home=front.home).create_deployment(str(deployment))
            refused, message = True, str(raised.value)
    assert refused, message
    assert ("compute 'missing-cluster' of deployment 'rules-dp' does not exist in workspace "
            "'default'; create it first: 'batch-emulator ml compute create -n missing-cluster "
            "--type amlcompute'") in message
    assert run_cli("ml", "batch-deployment", "list", "-e", "rules-ep", env=env)[1].strip() == "[]"
