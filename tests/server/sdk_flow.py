"""Run by tests/server/test_azure_sdk.py in its own process: the official azure-ai-ml SDK,
unmodified, against ``batch-emulator serve --azure-compatible`` (environment exported as the
server printed it). Prints one JSON line of what it saw."""

import json
import sys
import time

from azure.ai.ml import Input, MLClient
from azure.ai.ml.entities import BatchEndpoint
from azure.core.exceptions import HttpResponseError

from emulator.azure import EmulatorCredential

seen = {}
ml = MLClient(EmulatorCredential(), "00000000-0000-0000-0000-000000000000", "my-rg", "default")
seen["listed"] = sorted(e.name for e in ml.batch_endpoints.list())
endpoint = ml.batch_endpoints.get("sdk-ep")
seen["scoring_uri"] = endpoint.scoring_uri
created = ml.batch_endpoints.begin_create_or_update(
    BatchEndpoint(name="sdk-made", description="created by the SDK")).result()
seen["created"] = [created.name, created.description]
job = ml.batch_endpoints.invoke(endpoint_name="sdk-ep", input=Input(
    path="azureml://datastores/workspaceblobstore/paths/mnist/", type="uri_folder"))
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
seen["endpoint_jobs"] = [j.name for j in ml.batch_endpoints.list_jobs("sdk-ep")]
stranger = MLClient(EmulatorCredential(sys.argv[1]), "00000000-0000-0000-0000-000000000000",
                    "my-rg", "default")
try:
    stranger.batch_endpoints.get("sdk-ep")
    seen["stranger"] = "accepted"
except HttpResponseError as error:
    seen["stranger"] = error.status_code
print(json.dumps(seen))
