"""The pipeline routes over REST (issue 15): what the emulator refuses, in Azure's error shape,
with nothing created. The flow itself is driven by Azure's SDK in test_azure_sdk_pipelines.py."""

from __future__ import annotations

import pytest

from tests.server.conftest import WS

JOB_TYPES = ["Sweep", "Command", "AutoML", "Spark"]


@pytest.mark.parametrize("job_type", JOB_TYPES)
def test_a_job_that_is_not_a_pipeline_is_not_supported(live_server, job_type):
    with live_server.management() as client:
        answer = client.put(f"{WS}/jobs/not-a-pipeline-{job_type.lower()}",
                            json={"properties": {"jobType": job_type, "command": "echo hi",
                                                 "environmentId": "azureml:env:1"}})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "NotSupported"
        assert f"jobs of type {job_type!r} are not supported by the emulator" in error["message"]
        assert client.get(f"{WS}/jobs/not-a-pipeline-{job_type.lower()}").status_code == 404


def test_a_pipeline_deployment_of_a_component_that_does_not_exist_is_404(live_server):
    component = WS + "/components/no_such_pipeline/versions/3"
    with live_server.management() as client:
        created = client.put(f"{WS}/batchEndpoints/pipeline-refusals",
                             json={"location": "local", "properties": {"authMode": "AADToken"}})
        assert created.status_code in (200, 201), created.text
        answer = client.put(
            f"{WS}/batchEndpoints/pipeline-refusals/deployments/missing-component",
            json={"location": "local", "properties": {"deploymentConfiguration": {
                "deploymentConfigurationType": "PipelineComponent",
                "componentId": {"referenceType": "Id", "assetId": component},
                "settings": {"default_compute": "batch-cluster"}}}})
        assert answer.status_code == 404, answer.text
        error = answer.json()["error"]
        assert error["code"] == "ResourceNotFound"
        assert "no_such_pipeline" in error["message"], error
        listed = client.get(f"{WS}/batchEndpoints/pipeline-refusals/deployments")
        assert listed.json()["value"] == []


def test_a_component_the_workspace_lacks_is_404_by_version_and_by_latest(live_server):
    with live_server.management() as client:
        for path in ("/components/nothing_here/versions/1", "/components/nothing_here"):
            answer = client.get(WS + path)
            assert answer.status_code == 404, answer.text
            assert answer.json()["error"]["code"] == "ResourceNotFound"
            assert "nothing_here" in answer.json()["error"]["message"]
        latest = client.get(WS + "/components/nothing_here/versions",
                            params={"$orderBy": "createdtime desc", "$top": 1})
        assert latest.status_code == 404 or latest.json()["value"] == [], latest.text
