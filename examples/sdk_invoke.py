"""Azure's own SDK against `batch-emulator serve --azure-compatible`: run it in the shell where
the server's exports are set (README, "From Azure's own SDK"). Run from the repository root."""

from azure.ai.ml import Input, MLClient
from azure.ai.ml.entities import (
    AmlCompute,
    BatchEndpoint,
    CodeConfiguration,
    Environment,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
)

from emulator.azure import EmulatorCredential  # a TokenCredential signing with the home's key

subscription_id = "00000000-0000-0000-0000-000000000000"  # any id: the emulator takes it
resource_group = "local"
ml_client = MLClient(EmulatorCredential(), subscription_id, resource_group, "default")

ml_client.compute.begin_create_or_update(AmlCompute(name="cpu-cluster", max_instances=2)).result()
endpoint = ml_client.batch_endpoints.begin_create_or_update(BatchEndpoint(name="mnist-ep")).result()
ml_client.batch_deployments.begin_create_or_update(ModelBatchDeployment(
    name="mnist-dpl", endpoint_name="mnist-ep", model=Model(name="mnist", path="examples/mnist/model"),
    code_configuration=CodeConfiguration(code="examples/mnist/code",
                                         scoring_script="digit_identification.py"),
    environment=Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                            conda_file="examples/mnist/environment/conda.yml"),
    compute="cpu-cluster", settings=ModelBatchDeploymentSettings(mini_batch_size=10))).result()
endpoint.defaults.deployment_name = "mnist-dpl"
ml_client.batch_endpoints.begin_create_or_update(endpoint).result()

job = ml_client.batch_endpoints.invoke(endpoint_name="mnist-ep",
                                       input=Input(path="examples/mnist/data", type="uri_folder"))
ml_client.jobs.stream(job.name)                            # returns when the job has ended
print(ml_client.jobs.get(job.name).status)                 # Completed
ml_client.jobs.download(job.name, download_path="out")     # out/predictions.csv
print(len(ml_client.batch_endpoints.list_jobs("mnist-ep")), "job(s) on mnist-ep")
