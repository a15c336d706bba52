"""The REST API over HTTP: control plane, data plane, auth, errors, and the CLI's view of it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from emulator.workspace.auth import MANAGEMENT_RESOURCE, ML_RESOURCE
from tests.helpers import wait_for
from tests.server.conftest import SEED, WS

DATA = str(SEED / "mnist" / "data")


def wait_completed(client, endpoint: str, job: str, timeout: float = 120) -> dict:
    def ended():
        body = client.get(f"/endpoints/{endpoint}/jobs/{job}").json()
        return body if body["properties"]["status"] in ("Completed", "Failed", "Canceled") \
            else None

    return wait_for(ended, timeout, f"job {job}")


def test_scoring_uri_shown_by_the_cli_is_the_servers(live_server):
    _, out, _ = live_server.cli("ml", "batch-endpoint", "show", "-n", "mybatchedp",
                                   "--query", "scoring_uri", "-o", "tsv")
    assert out.strip() == f"{live_server.url}/endpoints/mybatchedp/jobs"


def test_preview_body_with_a_registered_data_asset(live_server):
    with live_server.client() as client:
        response = client.post("/endpoints/mybatchedp/jobs", json={"properties": {"dataset": {
            "dataInputType": "DatasetVersion", "datasetName": "mnist-images",
            "datasetVersion": "1"}, "outputFileName": "preview.csv"}})
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["id"].endswith(f"/batchEndpoints/mybatchedp/jobs/{job['name']}")
        done = wait_completed(client, "mybatchedp", job["name"])
    assert done["properties"]["status"] == "Completed"
    assert done["properties"]["outputFileName"] == "preview.csv"
    # the CLI sees the job HTTP created, with the same store
    _, out, _ = live_server.cli("ml", "job", "show", "-n", job["name"], "--query",
                                   "properties.output_file", "-o", "tsv")
    assert Path(out.strip()).name == "preview.csv" and Path(out.strip()).is_file()


def test_ga_body_with_output_data_and_a_deployment_header(live_server, tmp_path):
    body = {"properties": {
        "InputData": {"mnist": {"JobInputType": "UriFolder", "Uri": DATA}},
        "OutputData": {"score": {"JobOutputType": "UriFolder",
                                 "Uri": "azureml://datastores/workspaceblobstore/paths/ga-out/"}},
        "miniBatchSize": "20", "retrySettings": {"maxRetries": "1", "timeout": "PT1M"}}}
    with live_server.client() as client:
        response = client.post("/endpoints/mybatchedp/jobs", json=body,
                               headers={"azureml-model-deployment": "nonmlflowdp"})
        assert response.status_code == 200, response.text
        done = wait_completed(client, "mybatchedp", response.json()["name"])
    assert done["properties"]["status"] == "Completed"
    assert done["properties"]["miniBatchSize"] == 20
    assert done["properties"]["output"] == {"datastoreId": "workspaceblobstore", "path": "ga-out/"}


def test_jobs_invoked_by_the_cli_are_visible_over_http(live_server):
    code, out, err = live_server.cli("ml", "batch-endpoint", "invoke", "-n", "mybatchedp",
                                     "--input", DATA, "--query", "name", "-o", "tsv")
    assert code == 0, err
    with live_server.client() as client:
        assert client.get(f"/endpoints/mybatchedp/jobs/{out.strip()}").status_code == 200
        names = [j["name"] for j in client.get("/endpoints/mybatchedp/jobs").json()["value"]]
    assert out.strip() in names
    with live_server.management() as arm:
        job = arm.get(f"{WS}/jobs/{out.strip()}", params={"api-version": "2024-01-01-preview"})
    assert job.status_code == 200
    assert job.json()["properties"]["tags"]["azureml.batchrun"] == "true"


def test_a_jobs_scoring_step_is_its_child_with_times(live_server):
    """``jobs.list(parent_job_name=)``, then ``jobs.get``/``download`` of the child, over REST."""
    code, out, err = live_server.cli("ml", "batch-endpoint", "invoke", "-n", "mybatchedp",
                                     "--input", DATA, "--query", "name", "-o", "tsv")
    assert code == 0, err
    job, runs = out.strip(), WS.replace("/subscriptions/", "/history/v1.0/subscriptions/") + "/runs"
    with live_server.client() as client:
        wait_completed(client, "mybatchedp", job)
    with live_server.management() as arm:
        children = arm.get(f"{runs}/{job}/children").json()["value"]
        step = arm.get(f"{WS}/jobs/{job}-batchscoring").json()
        parent = arm.get(f"{WS}/jobs/{job}").json()
        assert arm.get(f"{runs}/{job}-batchscoring/children").json()["value"] == []
        assert arm.get(f"{runs}/{job}-batchscoring/details").json()["status"] == "Completed"
        run = arm.get(f"{runs}/{job}-batchscoring").json()
        missing = arm.get(f"{WS}/jobs/batchjob-nope-batchscoring")
    assert [c["runId"] for c in children] == [f"{job}-batchscoring"]
    assert run["parentRunId"] == job and run["createdUtc"] == children[0]["createdUtc"]
    assert all(children[0][f"{time}Utc"] for time in ("created", "lastModified", "startTime",
                                                       "endTime"))
    assert step["name"] == f"{job}-batchscoring" and step["properties"]["status"] == "Completed"
    assert "azureml.batchrun" not in step["properties"]["tags"]  # downloaded by output name
    for document in (step, parent):
        assert document["systemData"]["createdAt"] and document["systemData"]["lastModifiedAt"]
    assert missing.status_code == 404 and "batchjob-nope-batchscoring" in missing.text


@pytest.mark.parametrize("method, path, what", [
    ("GET", f"{WS}/onlineEndpoints/my-online", "GET onlineEndpoints/my-online"),
    ("POST", f"{WS}/computes/batch-cluster/restart", "POST computes/batch-cluster/restart"),
    ("GET", "/not/a/route", "GET /not/a/route"),
])
def test_what_is_not_served_says_so_in_azures_shape(live_server, method, path, what):
    with live_server.management() as arm:
        response = arm.request(method, path, params={"api-version": "2024-01-01-preview"})
    assert response.status_code in (404, 405)
    assert response.json()["error"]["code"] == "NotSupported"
    assert f"not supported by the emulator: {what}." in response.json()["error"]["message"]


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "InvalidAuthenticationToken"),
    ({"Authorization": "Bearer not.a.token"}, 401, "InvalidAuthenticationToken"),
    ({"Authorization": "Basic dXNlcjpwdw=="}, 401, "InvalidAuthenticationToken"),
])
def test_data_plane_refuses_missing_or_forged_tokens(live_server, headers, status, code):
    with live_server.client(resource=None) as client:
        response = client.post("/endpoints/mybatchedp/jobs", json={}, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"


def test_expired_forged_and_wrong_audience_tokens(live_server):
    from emulator.workspace.auth import issue_token

    expired = issue_token(live_server.home, ML_RESOURCE, lifetime=-10)["accessToken"]
    forged = live_server.token(ML_RESOURCE)[:-4] + "AAAA"
    other_home = issue_token(live_server.home / "elsewhere", ML_RESOURCE)["accessToken"]
    with live_server.client(resource=None) as client:
        for token, words in ((expired, "expired"), (forged, "signature is invalid"),
                             (other_home, "signature is invalid")):
            response = client.get("/endpoints/mybatchedp/jobs",
                                  headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401 and words in response.json()["error"]["message"]
        response = client.get("/endpoints/mybatchedp/jobs", headers={
            "Authorization": f"Bearer {live_server.token(MANAGEMENT_RESOURCE)}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert "audience" in response.json()["error"]["message"]
    with live_server.client(ML_RESOURCE) as client:  # the control plane wants management
        assert client.get(f"{WS}/batchEndpoints").status_code == 401


def test_bodies_over_one_mebibyte_are_refused(live_server):
    with live_server.client() as client:
        response = client.post("/endpoints/mybatchedp/jobs", content=b"{" + b" " * (1 << 20) + b"}",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "RequestEntityTooLarge"


@pytest.mark.parametrize("body, status, words", [
    ({"properties": {"InputData": {"x": {"JobInputType": "Literal", "Value": "3"}}}}, 400,
     "LiteralJobInput"),
    ({"properties": {}}, 400, "exactly one input"),
    ({"properties": {"dataset": {"dataInputType": "DataUrl", "Path": "/no/such/dir"}}}, 400,
     "does not exist"),
    ({"properties": {"dataset": {"dataInputType": "DatasetVersion", "datasetName": "nope",
                                 "datasetVersion": "1"}}}, 404, "not registered"),
    ([1, 2], 400, "must be a JSON object"),
])
def test_data_plane_errors_are_azures_shape(live_server, body, status, words):
    with live_server.client() as client:
        response = client.post("/endpoints/mybatchedp/jobs", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"} and words in response.json()["error"]["message"]


def test_unknown_endpoint_deployment_and_job_are_404(live_server):
    with live_server.client() as client:
        assert client.post("/endpoints/nope/jobs", json={"properties": {"dataset": {
            "dataInputType": "DataUrl", "Path": DATA}}}).status_code == 404
        response = client.post("/endpoints/mybatchedp/jobs", headers={
            "azureml-model-deployment": "nope"}, json={"properties": {"dataset": {
                "dataInputType": "DataUrl", "Path": DATA}}})
        assert response.status_code == 404
        assert "Deployment name nope not found" in response.json()["error"]["message"]
        assert client.get("/endpoints/mybatchedp/jobs/batchjob-nope").status_code == 404


def test_control_plane_endpoint_lifecycle_as_azure_clients_drive_it(live_server):
    params = {"api-version": "2023-10-01"}
    with live_server.management() as arm:
        put = arm.put(f"{WS}/batchEndpoints/rest-ep", params=params, json={
            "location": "local", "tags": {"team": "a"},
            "properties": {"description": "over REST", "authMode": "aadToken",
                           "properties": {}}})
        assert put.status_code == 201, put.text
        assert put.json()["properties"]["provisioningState"] == "Succeeded"
        assert put.json()["properties"]["scoringUri"] == f"{live_server.url}/endpoints/rest-ep/jobs"
        operation = arm.get(put.headers["Azure-AsyncOperation"])
        assert operation.json() == {"status": "Succeeded"}
        again = arm.put(f"{WS}/batchEndpoints/rest-ep", params=params,
                        json={"properties": {"description": "again"}})
        assert again.status_code == 200
        patch = arm.patch(f"{WS}/batchEndpoints/rest-ep", params=params,
                          json={"tags": {"team": "b"}})
        assert patch.json()["tags"] == {"team": "b"}
        assert patch.json()["properties"]["description"] == "again"
        listed = arm.get(f"{WS}/batchEndpoints", params=params).json()["value"]
        assert {"mybatchedp", "rest-ep"} <= {e["name"] for e in listed}
        assert arm.delete(f"{WS}/batchEndpoints/rest-ep", params=params).status_code == 200
        assert arm.get(f"{WS}/batchEndpoints/rest-ep", params=params).status_code == 404
        assert arm.delete(f"{WS}/batchEndpoints/rest-ep", params=params).status_code == 204


def test_control_plane_deployment_with_numbers_as_strings(live_server):
    params = {"api-version": "2024-01-01-preview"}
    with live_server.management() as arm:
        existing = arm.get(f"{WS}/batchEndpoints/mybatchedp/deployments/nonmlflowdp",
                           params=params).json()["properties"]
        body = {"location": "local", "properties": {
            "model": {"referenceType": "Id", "assetId": existing["model"]["assetId"]},
            "codeConfiguration": existing["codeConfiguration"],
            "environmentId": existing["environmentId"],
            "compute": f"{WS}/computes/batch-cluster", "resources": {"instanceCount": "1"},
            "maxConcurrencyPerInstance": "2", "miniBatchSize": "5", "errorThreshold": "10",
            "retrySettings": {"maxRetries": "1", "timeout": "PT45S"}, "loggingLevel": "Warning",
            "outputAction": "AppendRow", "outputFileName": "rest.csv"}}
        put = arm.put(f"{WS}/batchEndpoints/mybatchedp/deployments/restdp", params=params,
                      json=body)
        assert put.status_code == 201, put.text
        properties = put.json()["properties"]
        assert (properties["miniBatchSize"], properties["errorThreshold"]) == (5, 10)
        assert properties["retrySettings"] == {"maxRetries": 1, "timeout": "PT45S"}
        assert properties["loggingLevel"] == "Warning"
        listed = arm.get(f"{WS}/batchEndpoints/mybatchedp/deployments", params=params).json()
        assert {"nonmlflowdp", "restdp"} <= {d["name"] for d in listed["value"]}
        bad = arm.put(f"{WS}/batchEndpoints/mybatchedp/deployments/baddp", params=params,
                      json={"properties": {**body["properties"], "miniBatchSize": "many"}})
        assert bad.status_code == 400 and "mini_batch_size" in bad.json()["error"]["message"]
    _, out, _ = live_server.cli("ml", "batch-deployment", "show", "-n", "restdp", "-e",
                                   "mybatchedp", "--query", "settings.retry_settings.timeout",
                                   "-o", "tsv")
    assert out.strip() == "45"
    with live_server.management() as arm:
        assert arm.delete(f"{WS}/batchEndpoints/mybatchedp/deployments/restdp",
                          params=params).status_code == 200


def test_openapi_document_is_served(live_server):
    import httpx

    document = httpx.get(f"{live_server.url}/openapi.json").json()
    assert "/endpoints/{endpoint}/jobs" in document["paths"]
    assert any(path.endswith("/batchEndpoints/{endpoint}/deployments/{deployment}")
               for path in document["paths"])


@pytest.mark.slow
def test_fifty_concurrent_invocations_are_all_recorded_and_complete(live_server):
    body = {"properties": {"dataset": {"dataInputType": "DataUrl", "Path": DATA}}}
    with live_server.client() as client:
        def invoke(_):
            return client.post("/endpoints/mybatchedp/jobs", json=body)

        with ThreadPoolExecutor(50) as pool:
            responses = list(pool.map(invoke, range(50)))
        assert [r.status_code for r in responses] == [200] * 50, \
            [r.text for r in responses if r.status_code != 200][:3]
        names = {r.json()["name"] for r in responses}
        assert len(names) == 50
        listed = {j["name"] for j in client.get("/endpoints/mybatchedp/jobs").json()["value"]}
        assert names <= listed
        started = time.monotonic()
        statuses = {wait_completed(client, "mybatchedp", name, 600)["properties"]["status"]
                    for name in names}
    assert statuses == {"Completed"}, statuses
    print(f"50 jobs completed {time.monotonic() - started:.1f} s after the last invoke")
    _, out, _ = live_server.cli("ml", "job", "list", "--query", "length(@)", "-o", "tsv")
    assert int(out) >= 50
