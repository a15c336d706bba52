"""Components, pipeline jobs and pipeline deployments between Azure's REST shapes and the CLI's
YAML dicts, on the bodies the unmodified azure-ai-ml SDK sent (``sdk_bodies/``, captured
against ``serve --azure-compatible``); what goes back out is parsed by the SDK's own classes."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from emulator.exceptions import ValidationError
from emulator.model.references import Scope
from emulator.server import pipeline_translate as pt

BODIES = Path(__file__).resolve().parent / "sdk_bodies"
# azure-ai-ml's own schemas use marshmallow options marshmallow 3 deprecates, and some of its
# entities are marked experimental: warnings of the SDK's code, not of ours.
pytestmark = [pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
              pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
              pytest.mark.filterwarnings("ignore:.*experimental")]
SCOPE = Scope("00000000-0000-0000-0000-000000000000", "my-rg", "default")
JOB_ID = SCOPE.workspace_id + "/jobs/pipeline_job_yaml"
CONTEXT = {"created_at": "2026-01-01T00:00:00Z", "created_by": "local-user",
           "last_modified_at": "2026-01-01T00:00:01Z"}


def captured(name: str) -> tuple[str, dict]:
    request = json.loads((BODIES / f"{name}.json").read_text(encoding="utf-8"))
    return request["path"], request["body"]


def component(name: str) -> dict:
    path, body = captured(name)
    component_name, version = path.split("/components/")[1].split("/versions/")
    return pt.component_in(component_name, version, body)


def sdk_parse(model: str, body: dict, client: str = "arm_ml_service"):
    """The SDK's generated REST model of ``body``, as its operations deserialize a response
    (``client``: the SDK's ARM client, or ``runhistory`` for run history's)."""
    sdk = pytest.importorskip(f"azure.ai.ml._restclient.{client}")
    model_base = importlib.import_module(f"azure.ai.ml._restclient.{client}._utils.model_base")
    return model_base._deserialize(getattr(sdk.models, model), json.loads(json.dumps(body)))


def test_a_command_component_gets_its_yaml_fields_with_typed_defaults():
    document = component("component_command")
    code, environment = document.pop("code"), document.pop("environment")
    assert code.startswith("azureml:") and code.endswith(":1")
    assert environment.startswith("azureml:CliV2AnonymousEnvironment:")
    assert document["name"] == "score_cmd" and document["version"] == "1"
    assert document["type"] == "command" and document["display_name"] == "Score"
    assert document["tags"] == {"team": "batch"}
    assert "$[[--extra ${{inputs.extra}}]]" in document["command"]
    assert document["inputs"] == {
        "data": {"type": "uri_folder"}, "model": {"type": "mlflow_model"},
        "mode": {"type": "string", "default": "append"},
        "k": {"type": "integer", "default": 3, "min": 1},
        "ratio": {"type": "number", "default": 0.5},
        "flag": {"type": "boolean", "default": False},
        "extra": {"type": "string", "optional": True}}
    assert document["outputs"] == {"scores": {"type": "uri_folder"}}
    assert not any(key.startswith(("_", "$")) for key in document)


def test_a_pipeline_component_has_its_steps_as_written_in_yaml():
    document = component("component_pipeline")
    assert document["type"] == "pipeline" and document["name"] == "prep_and_score"
    prep, score = document["jobs"]["prep"], document["jobs"]["score"]
    # the SDK registered the inline ./prep.yml step as an anonymous component first
    assert prep["component"].startswith(f"azureml:{pt.ANONYMOUS}:")
    assert prep["inputs"] == {"raw": "${{parent.inputs.input_data}}"}
    assert score == {"type": "command", "component": "azureml:score_cmd:1",
                     "inputs": {"data": "${{parent.jobs.prep.outputs.clean}}",
                                "model": "${{parent.inputs.model}}",
                                "mode": "${{parent.inputs.score_mode}}", "k": "5"},
                     "outputs": {"scores": "${{parent.outputs.scores}}"}}
    assert document["inputs"]["score_mode"] == {"type": "string", "default": "append"}


def test_the_anonymous_step_component_keeps_its_url_name():
    document = component("component_anonymous_step")
    assert document["name"] == pt.ANONYMOUS and document["type"] == "command"
    assert document["command"] == "python prep.py --in ${{inputs.raw}} --out ${{outputs.clean}}"


def test_a_component_made_from_a_job_names_the_job():
    assert component("component_from_job") == {
        "name": pt.ANONYMOUS, "version": "1", "type": "pipeline",
        "source_job_id": "pipeline_job_yaml"}


@pytest.mark.parametrize("name", ["component_command", "component_pipeline"])
def test_a_component_out_is_one_the_sdk_parses_and_deploys(name):
    from azure.ai.ml.entities import Component, PipelineComponentBatchDeployment

    document = {**component(name), "creation_context": CONTEXT}
    body = pt.component_out(document, SCOPE)
    entity = Component._from_rest_object(sdk_parse("ComponentVersion", body))
    assert entity.name == document["name"] and entity.version == "1"
    assert entity.id == f"{SCOPE.workspace_id}/components/{document['name']}/versions/1"
    assert set(entity.inputs) == set(document["inputs"])
    assert pt.component_in(document["name"], "1", body) == {
        k: v for k, v in document.items() if k != "creation_context"}  # a round trip
    if name == "component_pipeline":
        assert set(entity.jobs) == {"prep", "score"}
        assert entity.jobs["score"].inputs["data"]._data == "${{parent.jobs.prep.outputs.clean}}"
        # what a PipelineComponentBatchDeployment sends for a component got back
        sent = PipelineComponentBatchDeployment(
            name="dp", endpoint_name="ep", component=entity,
            settings={"default_compute": "cpu-cluster"})._to_rest_object(location="local")
        assert sent.properties.deployment_configuration.component_id.asset_id == entity.id
    else:
        assert entity.command == document["command"]
        assert entity.inputs["k"].default == 3 and entity.inputs["extra"].optional is True


@pytest.mark.parametrize("name", ["job_pipeline_yaml", "job_pipeline_dsl"])
def test_a_pipeline_job_gets_its_yaml_fields(name):
    _, body = captured(name)
    document = pt.pipeline_job_in("pipeline_job", body)
    assert document["type"] == "pipeline" and document["experiment_name"] == "pipelines"
    assert document["settings"]["default_compute"] == "cpu-cluster"
    assert document["inputs"]["input_data"] == {
        "type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/data/"}
    assert document["inputs"]["score_mode"] == "append"
    steps = document["jobs"]
    scoring = steps["score" if name == "job_pipeline_yaml" else "s"]
    assert scoring["inputs"]["model"] == {"type": "mlflow_model", "path": "azureml:heart-model:1"}
    assert scoring["outputs"] == {"scores": "${{parent.outputs.scores}}"}
    if name == "job_pipeline_yaml":
        assert document["display_name"] == "prep-and-score-job"
        assert document["settings"] == {"default_compute": "cpu-cluster",
                                        "default_datastore": "workspaceblobstore",
                                        "continue_on_step_failure": True}
        assert document["inputs"]["k"] == "4"  # the SDK stringifies literals
        assert document["outputs"]["scores"]["path"].endswith("/paths/out/")
        assert scoring["component"] == "azureml:score_cmd:1"  # @latest, resolved by the SDK
        assert steps["inline_step"]["outputs"] == {"y": {"type": "uri_folder"}}
    else:
        assert document["settings"] == {"default_compute": "cpu-cluster",
                                        "continue_on_step_failure": False}
        assert document["outputs"] == {"scores": {"type": "uri_folder"}}
        assert steps["p"]["inputs"] == {"raw": "${{parent.inputs.input_data}}"}


def test_a_pipeline_job_out_is_one_the_sdk_parses():
    from azure.ai.ml.entities import Job, PipelineJob

    _, body = captured("job_pipeline_yaml")
    document = {**pt.pipeline_job_in("pipeline_job_yaml", body), "id": JOB_ID,
                "status": "Running", "creation_context": CONTEXT,
                "services": {"Studio": {"endpoint": "https://127.0.0.1/studio"}}}
    out = pt.pipeline_job_out(document)
    job = Job._from_rest_object(sdk_parse("JobBase", out))
    assert isinstance(job, PipelineJob)
    assert job.name == "pipeline_job_yaml" and job.status == "Running"
    assert job.display_name == "prep-and-score-job" and job.experiment_name == "pipelines"
    assert job.settings.continue_on_step_failure is True
    assert job.settings.default_compute.endswith("/computes/cpu-cluster")
    assert job.inputs["input_data"].path == "azureml://datastores/workspaceblobstore/paths/data/"
    assert job.inputs["k"]._data == "4"
    assert set(job.jobs) == {"prep", "inline_step", "score"}
    assert job.jobs["score"].component.endswith("/components/score_cmd/versions/1")
    assert job.creation_context.created_at is not None
    assert pt.pipeline_job_in("pipeline_job_yaml", out) == pt.pipeline_job_in(
        "pipeline_job_yaml", body)  # a round trip


def test_a_step_is_a_run_the_sdk_reads_through_run_history():
    from azure.ai.ml.entities import Job

    step = {"name": "pipeline_job_yaml-score", "parent_job_name": "pipeline_job_yaml",
            "display_name": "score", "status": "Failed", "experiment_name": "pipelines",
            "compute": "azureml:cpu-cluster", "creation_context": CONTEXT,
            "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:02Z",
            "outputs": {"scores": {"type": "uri_folder",
                                   "path": "azureml://datastores/workspaceblobstore/paths/s/"}},
            "error": "step score failed", "id": SCOPE.workspace_id + "/jobs/x-score"}
    assert pt.step_job_out(step)["properties"] is None  # sends the SDK to run history
    children = pt.children_out([step])
    job = Job._from_rest_object(sdk_parse("Run", children["value"][0], "runhistory"))
    assert job.name == "pipeline_job_yaml-score" and job.status == "Failed"
    assert job.display_name == "score" and job.compute == "cpu-cluster"
    assert job.experiment_name == "pipelines"
    run_data = pt.step_run_data_out(step, "default")["runMetadata"]
    asset = run_data["outputs"]["scores"]["assetId"]
    assert pt.parse_output_asset(asset) == ("default", "pipeline_job_yaml-score", "scores")
    _, sent = captured("resolved_uris_step")  # the form the SDK asked for
    assert pt.parse_output_asset(sent["values"][0]) == (
        "default", "pipeline_job_yaml-prep", "clean")


@pytest.mark.parametrize("name", ["deployment_pipeline_component", "deployment_job_definition"])
def test_a_pipeline_deployment_gets_its_yaml_fields_and_goes_back_out(name):
    from azure.ai.ml.entities import BatchDeployment, PipelineComponentBatchDeployment

    _, body = captured(name)
    source_job = "pipeline_job_yaml" if name == "deployment_job_definition" else None
    document = pt.pipeline_deployment_in("pipe-dp", "capture-ep", body, source_job)
    if source_job:
        assert document["job_definition"] == "azureml:pipeline_job_yaml"
        assert document["settings"] == {"default_compute": "cpu-cluster"}
        document["component"] = "azureml:azureml_anonymous:1"  # the service's copy of the job
    else:
        assert document == {"name": "pipe-dp", "endpoint_name": "capture-ep",
                            "type": "pipeline", "component": "azureml:prep_and_score:1",
                            "settings": {"default_compute": "cpu-cluster",
                                         "continue_on_step_failure": False}}
    document["id"] = SCOPE.workspace_id + "/batchEndpoints/capture-ep/deployments/pipe-dp"
    out = pt.pipeline_deployment_out(document, SCOPE)
    # batch_deployments.get builds a BatchDeployment; the pipeline entity reads it fully
    got = BatchDeployment._from_rest_object(sdk_parse("BatchDeployment", out))
    assert got.name == "pipe-dp" and got.endpoint_name == "capture-ep"
    assert got.properties["deployment_configuration_type"] == "PipelineComponent"
    assert got.properties["default_compute"] == "cpu-cluster"
    deployment = PipelineComponentBatchDeployment._from_rest_object(
        sdk_parse("BatchDeployment", out))
    name, version = document["component"].removeprefix("azureml:").split(":")
    assert deployment.component == f"{SCOPE.workspace_id}/components/{name}/versions/{version}"
    assert deployment.settings == document["settings"]
    assert pt.pipeline_deployment_in("pipe-dp", "capture-ep", out)["component"] == \
        document["component"]


def test_invoke_inputs_are_named_inputs_and_outputs_as_in_an_inputs_file():
    assert pt.invoke_inputs_in(captured("invoke_pipeline")[1]) == (
        {"input_data": {"type": "uri_folder",
                        "path": "azureml://datastores/workspaceblobstore/paths/data/"},
         "score_mode": {"type": "string", "default": "append"}},
        {"scores": {"type": "uri_folder",
                    "path": "azureml://datastores/workspaceblobstore/paths/x"}})
    inputs, outputs = pt.invoke_inputs_in(captured("invoke_pipeline_local")[1])
    assert inputs["k"] == {"type": "integer", "default": 7} and outputs == {}
    assert inputs["input_data"]["path"].startswith(
        "azureml://datastores/workspaceblobstore/paths/LocalUpload/")
    # the GA body as the docs write it: PascalCase, and a model input by ARM id
    inputs, _ = pt.invoke_inputs_in({"Properties": {"InputData": {
        "Model": {"JobInputType": "MLFlowModel",
                  "Uri": SCOPE.workspace_id + "/models/heart-model/versions/2"},
        "Flag": {"JobInputType": "Literal", "Value": True}}}})
    assert inputs == {"Model": {"type": "mlflow_model", "path": "azureml:heart-model:2"},
                      "Flag": {"type": "boolean", "default": True}}


@pytest.mark.parametrize(("call", "message"), [
    (lambda: pt.invoke_inputs_in({"properties": {"InputData": {"x": {"JobInputType": "Mltable2"}}}}),
     "InputData.x.JobInputType 'Mltable2' is not supported"),
    (lambda: pt.component_in("c", "1", {"properties": {"componentSpec": {"type": "sweep"}}}),
     "componentSpec.type 'sweep' is not supported"),
    (lambda: pt.component_in("c", "1", {"properties": {}}), "componentSpec is required"),
    (lambda: pt.pipeline_job_in("j", {"properties": {"jobType": "Command"}}),
     "jobType 'Command': only Pipeline jobs"),
    (lambda: pt.pipeline_deployment_in("d", "e", {"properties": {"model": {}}}),
     "deploymentConfigurationType '': a pipeline deployment"),
])
def test_bad_bodies_are_refused_naming_the_field(call, message):
    with pytest.raises(ValidationError, match=message.replace(".", r"\.")):
        call()
