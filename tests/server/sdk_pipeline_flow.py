"""Run by tests/server/test_azure_sdk_pipelines.py in its own process: the unmodified azure-ai-ml
SDK against ``batch-emulator serve --azure-compatible`` (environment exported as the server
printed it), the pipeline flow of Azure's batch endpoint notebooks on examples/pipeline:
register the command components and the two-step pipeline component, an MLflow model, deploy
the pipeline as a PipelineComponentBatchDeployment, invoke it with a folder and a string
literal, stream it, list its steps and download the scoring step's ``scores``; then the same
pipeline as a pipeline job, and a deployment made from that job (``job_definition``).

Arguments: the repository's examples folder, an MLflow model folder, a download folder.
Prints one JSON line of what it saw."""

import json
import sys
import time
from pathlib import Path

from azure.ai.ml import Input, MLClient, load_component, load_job
from azure.ai.ml.entities import BatchEndpoint, Model, PipelineComponentBatchDeployment

from emulator.azure import EmulatorCredential

started = time.monotonic()
examples, model_dir, downloads = (Path(a) for a in sys.argv[1:4])
pipeline = examples / "pipeline"
seen: dict = {}
ml = MLClient(EmulatorCredential(), "00000000-0000-0000-0000-000000000000", "my-rg", "default")


def steps_of(job_name: str) -> dict:
    """The pipeline's child jobs by step name, and their statuses."""
    children = list(ml.jobs.list(parent_job_name=job_name))
    return {child.display_name: [child.name, str(child.status).split(".")[-1]] for child in children}


def download_scores(step_name: str, folder: Path) -> None:
    ml.jobs.download(step_name, output_name="scores", download_path=str(folder))


ml.models.create_or_update(Model(name="heart-classifier", path=str(model_dir),
                                 type="mlflow_model"))
for part in ("prep", "score"):
    registered = ml.components.create_or_update(load_component(pipeline / part /
                                                               "component.yml"))
    seen[part] = [registered.name, registered.version]
component = ml.components.create_or_update(load_component(pipeline / "pipeline.yml"))
latest = ml.components.get(component.name, label="latest")
seen["pipeline"] = [component.name, component.version, latest.version, sorted(latest.jobs)]

endpoint = BatchEndpoint(name="heart-pipeline-ep")
ml.batch_endpoints.begin_create_or_update(endpoint).result()
deployment = PipelineComponentBatchDeployment(
    name="heart-pipeline-dpl", endpoint_name=endpoint.name, component=latest,
    settings={"default_compute": "batch-cluster", "continue_on_step_failure": False})
ml.batch_deployments.begin_create_or_update(deployment).result()
shown = ml.batch_deployments.get("heart-pipeline-dpl", endpoint_name=endpoint.name)
seen["deployment"] = [shown.properties.get("deployment_configuration_type"),
                      shown.properties.get("default_compute")]

inputs = {"input_data": Input(type="uri_folder", path=str(examples / "heart" / "data")),
          # invoke resolves 'name@latest' as a data asset whatever the type (azure-ai-ml
          # 1.35); a version is taken as it is
          "model": Input(type="mlflow_model", path="azureml:heart-classifier:1"),
          "label": Input(type="string", default="risk")}
job = ml.batch_endpoints.invoke(endpoint_name=endpoint.name,
                                deployment_name="heart-pipeline-dpl", inputs=inputs)
ml.jobs.stream(job.name)
seen["invoked"] = [job.name, str(ml.jobs.get(job.name).status).split(".")[-1]]
seen["invoked_steps"] = steps_of(job.name)
download_scores(seen["invoked_steps"]["score"][0], downloads / "invoked")

# The same pipeline as a pipeline job, then deployed from that job.
# Azure's job schema wants 'azureml:' before a compute name (the example says batch-cluster)
created = ml.jobs.create_or_update(load_job(
    pipeline / "pipeline-job.yml",
    params_override=[{"settings.default_compute": "azureml:batch-cluster"}]))
ml.jobs.stream(created.name)
seen["job"] = [created.name, str(ml.jobs.get(created.name).status).split(".")[-1]]
seen["job_steps"] = steps_of(created.name)
download_scores(seen["job_steps"]["score"][0], downloads / "job")

from_job = PipelineComponentBatchDeployment(
    name="from-job", endpoint_name=endpoint.name, job_definition=created.name,
    settings={"default_compute": "batch-cluster"})
ml.batch_deployments.begin_create_or_update(from_job).result()
job = ml.batch_endpoints.invoke(endpoint_name=endpoint.name, deployment_name="from-job",
                                inputs={"input_data": inputs["input_data"],
                                        "model": inputs["model"]})
ml.jobs.stream(job.name)
seen["from_job"] = [job.name, str(ml.jobs.get(job.name).status).split(".")[-1]]
seen["from_job_steps"] = steps_of(job.name)
download_scores(seen["from_job_steps"]["score"][0], downloads / "from-job")
seen["seconds"] = round(time.monotonic() - started, 1)
print(json.dumps(seen))
