"""Run by tests/server/test_azure_sdk.py in its own process: the official azure-ai-ml SDK,
unmodified, against ``batch-emulator serve --azure-compatible`` (environment exported as the
server printed it). The flow of docs' batch endpoint tutorial: endpoint, a ModelBatchDeployment
from local folders, default, invoke on a local folder, get, stream, download, list_jobs, then
the scoring child job (list, get, stream, download) and two calls the emulator does not serve.

Arguments: the seed's mnist folder, a download folder, another home (for a stranger's token);
or ``list <endpoint>`` for the names of an endpoint's jobs; or ``stream <endpoint> <folder>``
to invoke and stream the job from the moment it is queued; or ``assets <endpoint> <folder>``
for the tutorial's data asset, compute and listings. Prints one JSON line of what it saw."""

import json
import sys
import time

from azure.ai.ml import Input, MLClient
from azure.ai.ml.constants import BatchDeploymentOutputAction
from azure.ai.ml.entities import (
    AmlCompute,
    BatchEndpoint,
    BatchRetrySettings,
    CodeConfiguration,
    Data,
    Environment,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    ResourceConfiguration,
)
from azure.core.exceptions import HttpResponseError

from emulator.azure import EmulatorCredential

started = time.monotonic()
seen = {}
ml = MLClient(EmulatorCredential(), "00000000-0000-0000-0000-000000000000", "my-rg", "default")
if sys.argv[1] == "list":
    print(json.dumps([j.name for j in ml.batch_endpoints.list_jobs(sys.argv[2])]))
    sys.exit(0)
if sys.argv[1] == "assets":
    if not any(c.name == "cpu-cluster" for c in ml.compute.list()):
        ml.begin_create_or_update(AmlCompute(name="cpu-cluster", max_instances=3)).result()
    seen["compute"] = ml.compute.get("cpu-cluster").max_instances
    ml.data.create_or_update(Data(name="digits", path=sys.argv[3], type="uri_folder"))
    data = ml.data.get("digits", label="latest")
    seen["data"] = [data.version, data.path]
    job = ml.batch_endpoints.invoke(endpoint_name=sys.argv[2],
                                    input=Input(type="uri_folder", path=data.id))
    seen["job"] = job.name
    seen["models"] = [m.version for m in ml.models.list(name="mnist-digits")]
    seen["environments"] = [e.name for e in ml.environments.list()]
    print(json.dumps(seen))
    sys.exit(0)
if sys.argv[1] == "stream":
    job = ml.batch_endpoints.invoke(endpoint_name=sys.argv[2],
                                    input=Input(path=sys.argv[3], type="uri_folder"))
    seen["queued_as"] = str(job.status)
    ml.jobs.stream(job.name)  # polls the run details until the job ends
    seen["after_stream"] = str(ml.jobs.get(job.name).status)
    print(json.dumps(seen))
    sys.exit(0)
mnist, download_path, other_home = sys.argv[1:4]

endpoint = ml.batch_endpoints.begin_create_or_update(
    BatchEndpoint(name="sdk-ep", description="created by the SDK")).result()
deployment = ml.batch_deployments.begin_create_or_update(ModelBatchDeployment(
    name="sdk-dp", endpoint_name="sdk-ep",
    model=Model(name="mnist-digits", path=f"{mnist}/model"),
    code_configuration=CodeConfiguration(code=f"{mnist}/code",
                                         scoring_script="digit_identification.py"),
    environment=Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
                            conda_file=f"{mnist}/environment/conda.yml"),
    compute="batch-cluster",
    resources=ResourceConfiguration(instance_count=1),
    settings=ModelBatchDeploymentSettings(
        mini_batch_size=10, max_concurrency_per_instance=2,
        output_action=BatchDeploymentOutputAction.APPEND_ROW,
        output_file_name="predictions.csv",
        retry_settings=BatchRetrySettings(max_retries=3, timeout=30), logging_level="info"),
)).result()
seen["deployment"] = [deployment.name, deployment.model, deployment.mini_batch_size]
endpoint.defaults.deployment_name = "sdk-dp"
endpoint = ml.batch_endpoints.begin_create_or_update(endpoint).result()
seen["default"] = endpoint.defaults.deployment_name
seen["listed"] = sorted(e.name for e in ml.batch_endpoints.list())

job = ml.batch_endpoints.invoke(endpoint_name="sdk-ep",
                                input=Input(path=f"{mnist}/data", type="uri_folder"))
seen["invoked"] = job.name
deadline = time.monotonic() + 120
while True:
    status = str(ml.jobs.get(job.name).status)
    if status.split(".")[-1].lower() in ("completed", "failed", "canceled") or \
            time.monotonic() > deadline:
        break
    time.sleep(0.2)
seen["status"] = status
ml.jobs.stream(job.name)  # prints RunId, Web View and the Execution Summary
ml.jobs.download(job.name, download_path=download_path)
seen["endpoint_jobs"] = [j.name for j in ml.batch_endpoints.list_jobs("sdk-ep")]
# Microsoft's notebooks follow the scoring step, the job's one child, and download its output.
child = list(ml.jobs.list(parent_job_name=job.name))[0]  # noqa: RUF015 (the notebooks' words)
parent = ml.jobs.get(job.name)
seen["times"] = [str(t) for t in (child.creation_context.created_at,
                                   child.creation_context.last_modified_at,
                                   parent.creation_context.created_at,
                                   parent.creation_context.last_modified_at)]
seen["child"] = [child.name, str(ml.jobs.get(child.name).status)]
ml.jobs.stream(child.name)
ml.jobs.download(name=child.name, download_path=f"{download_path}-child", output_name="score")
for unsupported in (lambda: ml.online_endpoints.get("an-online-endpoint"),
                    lambda: ml.compute.begin_restart("batch-cluster").result()):
    try:
        unsupported()
        seen.setdefault("unsupported", []).append("accepted")
    except HttpResponseError as error:
        seen.setdefault("unsupported", []).append([error.status_code, error.message])
ml.compute.begin_delete("batch-cluster").result()  # no job runs on it any more
seen["computes_left"] = [compute.name for compute in ml.compute.list()]
seen["seconds"] = round(time.monotonic() - started, 2)

stranger = MLClient(EmulatorCredential(other_home), "00000000-0000-0000-0000-000000000000",
                    "my-rg", "default")
try:
    stranger.batch_endpoints.invoke(endpoint_name="sdk-ep", input=Input(
        path="azureml://datastores/workspaceblobstore/paths/anything/", type="uri_folder"))
    seen["stranger"] = "accepted"
except HttpResponseError as error:
    seen["stranger"] = error.status_code
print(json.dumps(seen))
