"""Azure's REST shapes (camelCase ARM resources, invoke bodies) to and from the service's."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emulator.exceptions import ValidationError
from emulator.model import schemas
from emulator.model.references import PROVIDER, SEGMENTS, Scope, arm_id, parse_reference
from emulator.model.uris import DEFAULT_DATASTORE
from emulator.service import LITERAL_INPUT, SCORING_STEP

ENUMS = {  # Azure's REST enum spellings of the YAML's values
    "outputAction": {"append_row": "AppendRow", "summary_only": "SummaryOnly"},
    "loggingLevel": {"info": "Info", "warning": "Warning", "debug": "Debug"},
    "authMode": {"aad_token": "AADToken", "aml_token": "AMLToken", "key": "Key"},
}


def lower_keys(value: Any) -> Any:
    """Azure's services take these bodies case-insensitively (docs use PascalCase)."""
    if isinstance(value, Mapping):
        return {str(k).lower(): v for k, v in value.items()}
    return {}


def from_enum(field: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    reverse = {v.lower(): k for k, v in ENUMS[field].items()}
    return reverse.get(value.lower(), value)


def iso_seconds(value: Any) -> Any:
    """``PT30S``, ``PT5M``, ``PT1H30M`` (Azure's REST durations) to whole seconds."""
    if not isinstance(value, str) or not value.upper().startswith("P"):
        return value
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?",
                         value.upper())
    if not match or not any(match.groups()):
        raise ValidationError(f"timeout {value!r} is not an ISO 8601 duration such as PT30S")
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return int(days * 86400 + hours * 3600 + minutes * 60 + seconds)


def reference(value: Any) -> Any:
    """ARM ids of assets become ``azureml:`` references the service resolves."""
    if isinstance(value, str) and value.startswith("/subscriptions/"):
        return f"azureml:{value}"
    return value


def system_data(document: dict) -> dict:
    created = (document.get("creation_context") or {}).get("created_at")
    return {"createdAt": created, "createdBy": "local-user", "createdByType": "User"}


def workspace_out(scope: Scope, base_url: str) -> dict:
    """The workspace; its discovery URL points every regional service at this server."""
    return {
        "id": scope.workspace_id, "name": scope.workspace,
        "type": f"{PROVIDER}/workspaces", "location": "local", "kind": "Default",
        "properties": {"discoveryUrl": f"{base_url}/discovery/workspaces/{scope.workspace}",
                       "friendlyName": scope.workspace, "provisioningState": "Succeeded"},
    }


# ----------------------------------------------------------------------------- endpoints


def endpoint_in(name: str, body: Mapping) -> dict:
    properties = lower_keys(body.get("properties"))
    document: dict[str, Any] = {"name": name}
    if properties.get("description") is not None:
        document["description"] = properties["description"]
    if properties.get("authmode") is not None:
        document["auth_mode"] = from_enum("authMode", properties["authmode"])
    defaults = lower_keys(properties.get("defaults"))
    if defaults.get("deploymentname"):
        document["defaults"] = {"deployment_name": defaults["deploymentname"]}
    if body.get("tags"):
        document["tags"] = body["tags"]
    if properties.get("properties"):
        document["properties"] = properties["properties"]
    return document


def endpoint_out(document: Mapping, system_data: Mapping) -> dict:
    return {
        "id": document["id"],
        "name": document["name"],
        "type": f"{PROVIDER}/workspaces/batchEndpoints",
        "location": document.get("location", "local"),
        "tags": document.get("tags") or {},
        "systemData": system_data,
        "properties": {
            "description": document.get("description") or "",
            "authMode": ENUMS["authMode"].get(document["auth_mode"], document["auth_mode"]),
            "defaults": {"deploymentName": (document.get("defaults") or {}).get(
                "deployment_name")},
            "scoringUri": document["scoring_uri"],
            "swaggerUri": document["openapi_uri"],
            "provisioningState": "Succeeded",
            "properties": document.get("properties") or {},
        },
    }


# ----------------------------------------------------------------------------- deployments


def deployment_in(name: str, endpoint_name: str, body: Mapping) -> dict:
    p = lower_keys(body.get("properties"))
    model = lower_keys(p.get("model"))
    code = lower_keys(p.get("codeconfiguration"))
    retry = lower_keys(p.get("retrysettings"))
    settings = {
        "max_concurrency_per_instance": p.get("maxconcurrencyperinstance"),
        "mini_batch_size": p.get("minibatchsize"),
        "error_threshold": p.get("errorthreshold"),
        "output_action": from_enum("outputAction", p.get("outputaction")),
        "output_file_name": p.get("outputfilename"),
        "logging_level": from_enum("loggingLevel", p.get("logginglevel")),
        "environment_variables": p.get("environmentvariables"),
        "retry_settings": {k: v for k, v in {"max_retries": retry.get("maxretries"),
                                             "timeout": iso_seconds(retry.get("timeout"))}.items()
                           if v is not None} or None,
    }
    if model and not model.get("assetid"):
        raise ValidationError("properties.model.assetId is required: the ARM id of a registered "
                              "model (register it with 'batch-emulator ml model create')")
    document: dict[str, Any] = {
        "name": name, "endpoint_name": endpoint_name, "type": "model",
        "model": reference(model.get("assetid") or p.get("model")),
        "settings": {k: v for k, v in settings.items() if v is not None},
    }
    if code:
        document["code_configuration"] = {"code": reference(code.get("codeid")),
                                          "scoring_script": code.get("scoringscript")}
    if p.get("environmentid"):
        document["environment"] = reference(p["environmentid"])
    if p.get("compute"):
        document["compute"] = "azureml:" + str(p["compute"]).rstrip("/").rsplit("/", 1)[-1]
    resources = lower_keys(p.get("resources"))
    if resources.get("instancecount") is not None:
        document["resources"] = {"instance_count": resources["instancecount"]}
    if p.get("description") is not None:
        document["description"] = p["description"]
    if body.get("tags"):
        document["tags"] = body["tags"]
    return document


def deployment_out(scope: Scope, document: Mapping, system_data: Mapping) -> dict:
    settings = document.get("settings") or {}
    retry = settings.get("retry_settings") or {}
    code = document.get("code_configuration")
    properties: dict[str, Any] = {
        "description": document.get("description") or "",
        "model": {"referenceType": "Id", "assetId": _asset_id(scope, "model",
                                                              document.get("model"))},
        "environmentId": _asset_id(scope, "environment", document.get("environment")),
        "compute": document.get("compute"),
        "resources": {"instanceCount": (document.get("resources") or {}).get("instance_count")},
        "maxConcurrencyPerInstance": settings.get("max_concurrency_per_instance"),
        "miniBatchSize": settings.get("mini_batch_size"),
        "errorThreshold": settings.get("error_threshold"),
        "loggingLevel": ENUMS["loggingLevel"].get(settings.get("logging_level", ""), None),
        "outputAction": ENUMS["outputAction"].get(settings.get("output_action", ""), None),
        "outputFileName": settings.get("output_file_name"),
        "environmentVariables": settings.get("environment_variables") or {},
        "retrySettings": {"maxRetries": retry.get("max_retries"),
                          "timeout": f"PT{retry.get('timeout')}S"},
        "provisioningState": "Succeeded",
        "properties": {},
    }
    if code:
        code_name = Path(code["code"]).parts[-3] if len(Path(code["code"]).parts) > 3 else ""
        properties["codeConfiguration"] = {
            "codeId": arm_id(scope, "codes", code_name, "1"),
            "scoringScript": code["scoring_script"]}
    return {
        "id": document["id"], "name": document["name"],
        "type": f"{PROVIDER}/workspaces/batchEndpoints/deployments", "location": "local",
        "tags": document.get("tags") or {}, "systemData": system_data, "properties": properties,
    }


def _asset_id(scope: Scope, kind: str, value: Any) -> str | None:
    if not value:
        return None
    name, version = parse_reference(str(value), kind)
    return arm_id(scope, SEGMENTS[kind], name, version)


# ----------------------------------------------------------------------------- jobs


def job_system_data(document: Mapping) -> dict:
    context = document["creation_context"]
    return {"createdAt": context["created_at"], "createdBy": context["created_by"],
            "createdByType": "User", "lastModifiedAt": context.get("last_modified_at"),
            "lastModifiedBy": context.get("last_modified_by"), "lastModifiedByType": "User"}


def job_out(document: Mapping, step: bool = False) -> dict:
    """A batch job as ARM's jobs API shows it (a pipeline job with the batch tags); with
    ``step``, its scoring step: the child run whose ``score`` output the notebooks download
    (without the batch tags, so the SDK downloads the named output itself)."""
    name, tags = document["name"], {"azureml.batchrun": "true",
                                    "azureml.jobtype": "azureml.batchjob"}
    properties = document["properties"]
    if step:
        name, tags = name + SCORING_STEP, {}
        properties = {**properties, "azureml.parentrunid": document["name"]}
    return {
        "id": document["id"] + (SCORING_STEP if step else ""), "name": name,
        "type": f"{PROVIDER}/workspaces/jobs",
        "systemData": job_system_data(document),
        "properties": {
            "jobType": "Pipeline", "status": document["status"],
            "displayName": "batchscoring" if step else document["display_name"],
            "experimentName": document["experiment_name"],
            "tags": {**tags, **(document.get("tags") or {})},
            "properties": properties,
            "services": {"Studio": {"endpoint": document["services"]["Studio"]["endpoint"],
                                    "jobServiceType": "Studio"}},
            "inputs": {name: {"jobInputType": "uri_folder" if i["type"] == "uri_folder"
                              else "uri_file", "uri": i["path"]}
                       for name, i in document["inputs"].items()},
            "outputs": {name: {"jobOutputType": o["type"], "uri": o["path"]}
                        for name, o in document["outputs"].items()},
            "jobs": {},
            **({"error": document["error"]} if "error" in document else {}),
        },
    }


def run_out(document: Mapping, step: bool = False) -> dict:
    """A job, or its scoring step, as run history shows a run (``jobs.list(parent_job_name=)``
    reads ``creation_context`` from its times)."""
    name = document["name"]
    user = {"userName": document["creation_context"]["created_by"]}
    return {
        "runId": name + SCORING_STEP if step else name,
        "parentRunId": name if step else None, "rootRunId": name,
        "displayName": "batchscoring" if step else document["display_name"],
        "status": document["status"], "runType": "azureml.StepRun" if step else
        "azureml.PipelineRun", "target": "batch-emulator",
        "experimentId": document["experiment_name"], "tags": {}, "properties": {},
        "createdUtc": document["creation_context"]["created_at"], "createdBy": user,
        "lastModifiedUtc": document["creation_context"].get("last_modified_at"),
        "lastModifiedBy": user, "startTimeUtc": document.get("start_time"),
        "endTimeUtc": document.get("end_time"),
    }


def batch_job_out(document: Mapping, endpoint_id: str) -> dict:
    """The data plane's BatchJobResource: clients read ``id``/``name`` and properties.status."""
    output = document["outputs"]["score"]["path"]
    datastore, _, path = output.removeprefix("azureml://datastores/").partition("/paths/")
    settings = document.get("settings") or {}
    return {
        "id": f"{endpoint_id}/jobs/{document['name']}", "name": document["name"],
        "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs",
        "systemData": {"createdAt": document["creation_context"]["created_at"],
                       "createdBy": document["creation_context"]["created_by"]},
        "properties": {
            "status": document["status"],
            "provisioningState": _provisioning(document["status"]),
            "name": document["name"],
            "miniBatchSize": settings.get("mini_batch_size"),
            "errorThreshold": settings.get("error_threshold"),
            "outputFileName": settings.get("output_file_name"),
            "inputData": {"input_data": {"jobInputType": "UriFolder" if document["inputs"][
                "input_data"]["type"] == "uri_folder" else "UriFile",
                "uri": document["inputs"]["input_data"]["path"]}},
            "output": {"datastoreId": datastore if "/paths/" in output else None, "path": path},
            "interactionEndpoints": {"Studio": {
                "endpoint": document["services"]["Studio"]["endpoint"],
                "jobEndpointType": "Studio"}},
            "properties": document["properties"],
            **({"error": document["error"]} if "error" in document else {}),
        },
    }


def _provisioning(status: str) -> str:
    return {"Completed": "Succeeded", "Failed": "Failed", "Canceled": "Canceled"}.get(
        status, "InProgress")


def invoke_in(body: Mapping) -> dict:
    """The service's invoke arguments from the preview or the GA body (case-insensitive)."""
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object with 'properties'")
    p = lower_keys(body.get("properties"))
    inputs = _inputs_in(p)
    if len(inputs) != 1 or not inputs[0][0]:
        raise ValidationError("model deployments take exactly one input: properties.dataset or "
                              "one entry of properties.InputData with a Uri")
    arguments: dict[str, Any] = {"input": inputs[0][0], "input_type": inputs[0][1],
                                 "set_values": []}
    output_path = _output_in(p, arguments["set_values"])
    if output_path is not None:
        arguments["output_path"] = output_path
    arguments["set_values"].extend(_settings_in(p))
    if p.get("name") or body.get("name"):
        arguments["job_name"] = p.get("name") or body.get("name")
    return arguments


def _inputs_in(p: Mapping) -> list[tuple[Any, str | None]]:
    """(URI, type) of each input: the preview's ``dataset``, the GA's ``InputData``."""
    inputs: list[tuple[Any, str | None]] = []
    dataset = lower_keys(p.get("dataset"))
    if dataset:
        kind = str(dataset.get("datainputtype", "")).lower()
        if kind == "dataurl":
            inputs.append((dataset.get("path"), None))
        elif kind == "datasetversion":
            inputs.append((f"azureml:{dataset.get('datasetname')}:"
                           f"{dataset.get('datasetversion')}", None))
        elif kind == "datasetid":
            inputs.append((reference(dataset.get("datasetid")), None))
        else:
            raise ValidationError(f"dataset.dataInputType {dataset.get('datainputtype')!r}: use "
                                  "DataUrl, DatasetVersion or DatasetId")
    for spec in (lower_keys(p.get("inputdata")) or {}).values():
        spec = lower_keys(spec)
        kind = str(spec.get("jobinputtype", "")).lower()
        if kind == "literal" or "value" in spec:
            raise ValidationError(LITERAL_INPUT)
        if kind not in ("urifolder", "urifile", "uri_folder", "uri_file"):
            raise ValidationError(f"JobInputType {spec.get('jobinputtype')!r} is not supported; "
                                  "the supported types are: UriFile, UriFolder")
        inputs.append((reference(spec.get("uri")), "uri_file" if "file" in kind else "uri_folder"))
    return inputs


def _output_in(p: Mapping, set_values: list[str]) -> str | None:
    """The output path: the preview's ``outputDataset``, the GA's ``OutputData`` (a file
    output names the results file too)."""
    output_path = None
    output = lower_keys(p.get("outputdataset"))
    if output:
        datastore = str(output.get("datastoreid") or DEFAULT_DATASTORE).rstrip("/")
        output_path = (f"azureml://datastores/{datastore.rsplit('/', 1)[-1]}/paths/"
                       f"{str(output.get('path', '')).lstrip('/')}")
    for spec in (lower_keys(p.get("outputdata")) or {}).values():
        spec = lower_keys(spec)
        uri = re.sub(r"(?<!:)//+", "/", str(spec.get("uri", "")))
        if str(spec.get("joboutputtype", "")).lower() in ("urifile", "uri_file"):
            folder, _, file_name = uri.rpartition("/")
            output_path = folder + "/"
            set_values.append(f"output_file_name={file_name}")
        else:
            output_path = uri
    return output_path


def _settings_in(p: Mapping) -> list[str]:
    """The body's setting overrides as ``--set`` items."""
    set_values = []
    if p.get("outputfilename"):
        set_values.append(f"output_file_name={p['outputfilename']}")
    for key, setting in (("minibatchsize", "mini_batch_size"),
                         ("errorthreshold", "error_threshold")):
        if p.get(key) is not None:
            set_values.append(f"{setting}={p[key]}")
    if p.get("logginglevel"):
        set_values.append(f"logging_level={from_enum('loggingLevel', p['logginglevel'])}")
    retry = lower_keys(p.get("retrysettings"))
    if retry.get("maxretries") is not None:
        set_values.append(f"retry_settings.max_retries={retry['maxretries']}")
    if retry.get("timeout") is not None:
        set_values.append(f"retry_settings.timeout={iso_seconds(retry['timeout'])}")
    compute = lower_keys(p.get("compute"))
    if compute.get("instancecount") is not None:
        set_values.append(f"instance_count={compute['instancecount']}")
    return set_values


# ----------------------------------------------------------------------------- asset versions and containers


def version_out(scope: Scope, kind: str, body: dict) -> dict:
    segment = SEGMENTS[kind]
    return {"id": arm_id(scope, segment, body["name"], body["version"]),
            "name": body["version"],
            "type": f"Microsoft.MachineLearningServices/workspaces/{segment}/versions",
            "systemData": system_data(body),
            "properties": {"description": body.get("description"), "tags": body.get("tags") or {},
                           "properties": body.get("properties") or {}, "isArchived": False,
                           "isAnonymous": False,
                           "provisioningState": "Succeeded", **KIND_PROPERTIES[kind](body)}}


def _code(body: dict) -> dict:
    return {"codeUri": body.get("path")}


def _environment(body: dict) -> dict:
    conda = None
    if body.get("local_path"):
        conda = Path(body["local_path"]).read_text(encoding="utf-8")
    return {"image": body.get("image"), "condaFile": conda, "osType": "Linux",
            "environmentType": "UserCreated"}


def _model(body: dict) -> dict:
    return {"modelType": body.get("type"), "modelUri": body.get("path"),
            "flavors": body.get("flavors") or {}, "jobName": None, "stage": None}


def _data(body: dict) -> dict:
    return {"dataType": body.get("type"), "dataUri": body.get("path")}


KIND_PROPERTIES: dict[str, Callable[[dict], dict]] = {
    "code": _code, "environment": _environment, "model": _model, "data": _data}


def container_out(scope: Scope, kind: str, container: dict) -> dict:
    segment, latest = SEGMENTS[kind], container["latest"]
    return {"id": arm_id(scope, segment, latest["name"]), "name": latest["name"],
            "type": f"Microsoft.MachineLearningServices/workspaces/{segment}",
            "systemData": system_data(latest),
            "properties": {"latestVersion": latest["version"],
                           "nextVersion": container["next_version"],
                           "isArchived": False, "description": latest.get("description"),
                           "tags": {}, "properties": {}}}


# ----------------------------------------------------------------------------- datastores and computes


def datastore_out(body: dict) -> dict:
    return {"id": body["id"], "name": body["name"],
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "systemData": {},
            "properties": {"datastoreType": "AzureBlob", "accountName": body["account_name"],
                           "containerName": body["container_name"],
                           "endpoint": "core.windows.net", "protocol": "https",
                           "isDefault": bool(body.get("is_default")),
                           "credentials": {"credentialsType": "AccountKey"},
                           "serviceDataAccessAuthIdentity": "None", "tags": {},
                           "properties": {}}}


def compute_in(name: str, body: Mapping) -> dict:
    """An AmlCompute as the SDK PUTs it (a LocalCluster of up to ``maxNodeCount`` workers)."""
    properties = lower_keys(body.get("properties"))
    kind = str(properties.get("computetype") or "")
    if kind.lower() != "amlcompute":
        raise ValidationError(f"computeType {kind!r}: Azure's SDK can create AmlCompute here; "
                              "register kubernetes and dask computes with 'batch-emulator ml "
                              "compute create'")
    scale = lower_keys(lower_keys(properties.get("properties")).get("scalesettings"))
    settings = {"name": name, "type": "amlcompute",
                "size": lower_keys(properties.get("properties")).get("vmsize"),
                "min_instances": scale.get("minnodecount"),
                "max_instances": scale.get("maxnodecount"),
                "idle_time_before_scale_down": iso_seconds(
                    scale.get("nodeidletimebeforescaledown")),
                "description": properties.get("description")}
    return {key: value for key, value in settings.items() if value not in (None, "")}


def compute_out(body: dict) -> dict:
    kind = {"kubernetes": "Kubernetes"}.get(body["type"], "AmlCompute")
    description = body.get("description")
    if body["type"] == "dask":
        description = description or f"Dask scheduler at {body['scheduler_address']}"
    properties: dict = {}
    if kind == "AmlCompute":  # a dask compute shows with AmlCompute's defaults
        scale = body if body["type"] == "amlcompute" else schemas.fill_defaults(
            "compute", {"name": body["name"], "type": "amlcompute"})
        properties = {"vmSize": body.get("size"), "scaleSettings": {
            "minNodeCount": int(scale["min_instances"]),
            "maxNodeCount": int(scale["max_instances"]),
            "nodeIdleTimeBeforeScaleDown": f"PT{scale['idle_time_before_scale_down']}S"}}
    elif body.get("namespace"):
        properties = {"namespace": body["namespace"]}
    return {"id": body["id"], "name": body["name"],
            "type": "Microsoft.MachineLearningServices/workspaces/computes", "location": "local",
            "tags": body.get("tags") or {}, "systemData": system_data(body),
            "properties": {"computeType": kind, "description": description,
                           "provisioningState": "Succeeded", "properties": properties}}
