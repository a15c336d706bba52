"""The ARM asset, compute and datastore routes Azure's SDK uses: bad bodies get a 400 naming the
field, immutable versions a 409, unreachable storage a quick 503; nothing half-registered."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.server.conftest import WS

CODE_URI = "azureml://datastores/workspaceblobstore/paths/code/"


@pytest.mark.parametrize(("path", "body", "message"), [
    ("codes/c1/versions/1", {"properties": {"codeUri": 5}},
     "properties.codeUri is required, a string"),
    ("codes/c1/versions/1", {"properties": {"codeUri": CODE_URI, "properties": ["x"]}},
     "properties.properties must be a JSON object"),
    ("codes/c1/versions/1", {"properties": "x"}, "needs a 'properties' object"),
    ("models/m1/versions/1", {"properties": {"modelUri": CODE_URI, "modelType": ["x"]}},
     "$.type"),
    ("models/m1/versions/1", {"properties": {"modelUri": CODE_URI, "tags": "t"}}, "$.tags"),
    ("data/d1/versions/1", {"properties": {"dataUri": CODE_URI}},
     "properties.dataType is required"),
    ("data/d1/versions/1", {"properties": {"dataUri": CODE_URI, "dataType": "Bogus"}},
     "$.type"),
    ("data/d1/versions/1", {"properties": {
        "dataUri": "azureml://datastores/workspaceblobstore/paths/../../../etc/hostname",
        "dataType": "uri_file"}}, "the path leaves the datastore"),
    ("environments/e1/versions/1", {"properties": {"image": ["a"]}}, "$.image"),
    ("environments/e1/versions/1", {"properties": {"condaFile": "x: 1"}},
     "properties.image is required"),
    ("environments/e1/versions/1", {"properties": {"build": {"path": "."}}},
     "build context are not supported"),
    ("environments/e1/versions/1", {"properties": {"image": "i", "condaFile": 3}},
     "condaFile must be the conda file's YAML text"),
    ("computes/c1", {"properties": {"computeType": "Kubernetes"}},
     "Azure's SDK can create AmlCompute here"),
    ("computes/c1", {"properties": {"computeType": "AmlCompute", "properties": {
        "scaleSettings": {"minNodeCount": 5, "maxNodeCount": 2}}}},
     "min_instances 5 is above max_instances 2"),
])
def test_a_bad_body_is_refused_naming_the_field(live_server, path, body, message):
    with live_server.management() as client:
        before = client.get(f"{WS}/{path.split('/')[0]}").json()
        answer = client.put(f"{WS}/{path}", json=body)
        assert answer.status_code in (400, 409), answer.text
        assert message in answer.json()["error"]["message"]
        assert client.get(f"{WS}/{path.split('/')[0]}").json() == before


def test_a_version_is_immutable(live_server):
    folder = live_server.home / "default" / "datastores" / "workspaceblobstore" / "immutable"
    folder.mkdir(parents=True)
    (folder / "x.csv").write_text("a\n1\n")
    body = {"properties": {"dataUri": "azureml://datastores/workspaceblobstore/paths/immutable/",
                           "dataType": "UriFolder", "description": "first"}}
    with live_server.management() as client:
        assert client.put(f"{WS}/data/frozen/versions/1", json=body).status_code == 201
        assert client.put(f"{WS}/data/frozen/versions/1", json=body).status_code == 200
        body["properties"]["dataUri"] += "x.csv"
        answer = client.put(f"{WS}/data/frozen/versions/1", json=body)
        assert answer.status_code == 409
        assert "exists with another path; versions are immutable" in answer.text
        shown = client.get(f"{WS}/data/frozen/versions/1").json()["properties"]
    assert shown["dataUri"].endswith("/immutable/") and shown["dataType"] == "uri_folder"
    registered = json.loads(live_server.cli("ml", "data", "show", "-n", "frozen", "--version",
                                            "1")[1])
    assert (Path(registered["local_path"]) / "x.csv").read_text() == "a\n1\n"  # a copy


def test_a_compute_keeps_its_type(live_server):
    with live_server.management() as client:
        answer = client.put(f"{WS}/computes/batch-cluster", json={"properties": {
            "computeType": "AmlCompute"}})
        assert answer.status_code == 409
        assert "is a dask compute; a compute's type cannot change" in answer.text
        shown = client.get(f"{WS}/computes/batch-cluster").json()["properties"]
    assert shown["computeType"] == "AmlCompute" and "Dask scheduler at" in shown["description"]


def test_unreachable_storage_is_a_quick_503(live_server):
    pytest.importorskip("azure.storage.blob")
    code, _, err = live_server.cli(
        "ml", "datastore", "create", "--name", "nowhere", "--set", "type=azure_blob",
        "account_name=devstoreaccount1", "container_name=nothing",
        "account_url=http://127.0.0.1:1/devstoreaccount1", "credentials.account_key=a2V5")
    assert code == 0, err
    started = time.monotonic()
    with live_server.management() as client:
        answer = client.put(f"{WS}/data/far/versions/1", json={"properties": {
            "dataUri": "azureml://datastores/nowhere/paths/folder/", "dataType": "uri_folder"}})
    assert answer.status_code == 503, answer.text
    assert "http://127.0.0.1:1/devstoreaccount1/nothing cannot be reached" in answer.text
    assert time.monotonic() - started < 20
