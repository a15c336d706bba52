"""Azure's REST shapes of components, pipeline jobs and pipeline deployments, to and from the
CLI YAML dicts the service takes (``az ml component|job|batch-deployment create -f``).

Shapes as the unmodified azure-ai-ml 1.35.x SDK sends them (captured bodies in
``tests/server/sdk_bodies/``, the request sequence per SDK call in ``sequence.json`` there):

- ``PUT …/components/{name}/versions/{version}``: ``{"properties": {"componentSpec": {…},
  "description", "tags", "properties", "isAnonymous", "isArchived"}}``. ``componentSpec`` is the
  component's YAML dict (snake_case) with ``code``/``environment`` as ``azureml:`` + ARM id, every
  literal stringified (``default: "3"``, ``"False"``, ``min: "1"``) and private keys
  (``_source``, ``$schema``). A pipeline component's ``jobs`` are REST steps: ``{"name", "type",
  "componentId": <ARM id>, "inputs": {x: {"job_input_type": "literal", "value":
  "${{parent.inputs.a}}"} | {"job_input_type": "mlflow_model", "uri": <ARM id>}}, "outputs":
  {y: {"type": "literal", "value": "${{parent.outputs.z}}"} | {"job_output_type":
  "uri_folder"}}}``. An inline step (a relative YAML path, or a step with its own ``command``) is
  first registered by the SDK as the anonymous component ``azureml_anonymous/versions/<hash>``,
  ``isAnonymous: true``, and referenced by id; ``@latest`` is resolved by the SDK itself
  (``GET …/components/{name}/versions?$orderBy=createdtime desc&$top=1``).
- ``job_definition=`` of a ``PipelineComponentBatchDeployment``: the SDK PUTs
  ``components/azureml_anonymous/versions/1`` whose spec is ``{"type": "pipeline", "jobs": {},
  "sourceJobId": <job name>}`` and deploys that component (always version ``1``).
- ``PUT …/jobs/{name}`` (YAML or ``@pipeline`` DSL alike): ``{"properties": {"jobType":
  "Pipeline", "displayName", "description", "experimentName", "tags", "properties", "isArchived",
  "settings": {"default_compute": <compute ARM id>, "default_datastore": <datastore ARM id>,
  "continue_on_step_failure": bool, "_source"}, "inputs": {a: {"jobInputType": "uri_folder",
  "uri"} | {"jobInputType": "literal", "value": "4"}}, "outputs": {z: {"jobOutputType",
  "uri"?}}, "jobs": {<REST steps as above>}}}``; job level keys are camelCase, step keys snake.
- ``PUT …/batchEndpoints/{e}/deployments/{d}``: ``{"location", "tags", "properties":
  {"deploymentConfiguration": {"deploymentConfigurationType": "PipelineComponent",
  "componentId": {"referenceType": "Id", "assetId": <component ARM id>}, "settings":
  {"default_compute": "cpu-cluster", "continue_on_step_failure": false}}, "errorThreshold": -1,
  "maxConcurrencyPerInstance": 1, "miniBatchSize": 10, "outputFileName": "predictions.csv"}}``
  (the last four are the SDK's fixed filler, ignored).
- invoke (``POST <scoringUri>``): ``{"properties": {"inputData": {a: {"jobInputType":
  "UriFolder", "uri"} | {"jobInputType": "Literal", "value": "append" | 7}}, "outputData": {z:
  {"jobOutputType": "UriFolder", "uri"}}}}``; a literal keeps its JSON type here.
- A pipeline's steps are followed through run history, as the batch job's scoring step is:
  ``jobs.list(parent_job_name=)`` GETs the parent job, then ``history/…/runs/{job}/children``;
  ``jobs.get(step)`` GETs ``jobs/{step}``, whose ``properties: null`` sends it to
  ``history/…/runs/{step}``; ``jobs.download(step, output_name=)`` adds ``POST …/rundata``
  (``runMetadata.outputs``: output name to a data asset id) and ``POST
  …/dataversion/batchGetResolvedUris`` (that id to the output folder's long-form URI).

Literals stay strings where the SDK sends strings (a step's ``k: "5"``): only a component's own
input declarations carry types here; binding a literal to a typed input is the service's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emulator.exceptions import ValidationError
from emulator.model import schemas
from emulator.model.references import PROVIDER, Scope, arm_id
from emulator.server.translate import job_system_data, lower_keys, system_data

ANONYMOUS = "azureml_anonymous"  # the name the SDK registers inline steps under
# What a body leaves out means what the schemas say it means.
COMPONENT_TYPE = schemas.load_schema("component")["properties"]["type"]["default"]
STEP_TYPE = schemas.defaults("component", "step")["type"]
DATA_TYPE = schemas.defaults("component", "given_input")["type"]
LITERAL = "literal"  # an input without a type is a literal value
COMPONENT_TYPES = ("command", "pipeline", "parallel")
_ARM_ID = re.compile(
    r"^(?:azureml:)?/*subscriptions/(?P<subscription>[^/]+)/resource[gG]roups/(?P<group>[^/]+)/"
    r"providers/Microsoft\.MachineLearningServices/workspaces/(?P<workspace>[^/]+)/"
    r"(?P<segment>[A-Za-z]+)/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/?$")
_OUTPUT_ASSET = re.compile(r"^azureml://locations/[^/]+/workspaces/(?P<workspace>[^/]+)/data/"
                           r"azureml_(?P<run>.+)_output_data_(?P<output>[^/]+)/versions/1$")
_LITERAL_TYPES = {"integer": int, "number": float,
                  "boolean": lambda v: v if isinstance(v, bool) else str(v).lower() == "true"}
_PRIVATE = ("_source", "$schema", "sourceJobId", "source_job_id")
_URI_KINDS = {"urifolder": "uri_folder", "urifile": "uri_file", "mlflowmodel": "mlflow_model",
              "custommodel": "custom_model", "mltable": "mltable", "tritonmodel": "triton_model"}


def _keys(value: Any) -> dict:
    """``jobInputType``, ``job_input_type`` and ``JobInputType`` alike: the SDK mixes them."""
    if isinstance(value, Mapping):
        return {str(k).lower().replace("_", ""): v for k, v in value.items()}
    return {}


def _reference(value: Any) -> Any:
    """An ARM id (with or without ``azureml:``) as ``azureml:<name>:<version>``, or as the bare
    name of a compute or datastore; anything else unchanged."""
    match = _ARM_ID.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    if match["segment"].lower() in ("computes", "datastores"):
        return match["name"]
    return f"azureml:{match['name']}" + (f":{match['version']}" if match["version"] else "")


def _name(value: Any) -> Any:
    """A compute or datastore given as an ARM id, ``azureml:<name>`` or a name, as its name."""
    value = _reference(value)
    return value.removeprefix("azureml:") if isinstance(value, str) else value


def _scope(resource_id: str) -> Scope:
    match = _ARM_ID.match(resource_id)
    if match is None:
        raise ValidationError(f"{resource_id!r} is not an ARM id of this workspace")
    return Scope(match["subscription"], match["group"], match["workspace"])


def _arm(scope: Scope, segment: str, value: Any) -> Any:
    """``azureml:<name>:<version>`` (or a name) as the ARM id of ``segment``; an ARM id, a
    datastore URI or a registry id unchanged."""
    if not isinstance(value, str) or _ARM_ID.match(value) or value.startswith(
            ("azureml://", "http://", "https://", "./", "/")):
        return value
    name, _, version = value.removeprefix("azureml:").partition(":")
    if "@" in name:
        name, _, label = name.partition("@")
        return f"{arm_id(scope, segment, name)}/versions/labels/{label}"
    return arm_id(scope, segment, name, version or None)


def _literal(kind: str | None, value: Any) -> Any:
    """A declared default or bound as the SDK stringifies it (``"3"``, ``"False"``) in its type."""
    convert = _LITERAL_TYPES.get(str(kind))
    if convert is None or value is None or isinstance(value, bool):
        return value
    try:
        return convert(value)
    except ValueError:
        return value  # the service's validation names the field and the expected type


# ----------------------------------------------------------------------------- components


def component_in(name: str, version: str, body: Mapping) -> dict:
    """The component's YAML dict from a ComponentVersion body. ``name == ANONYMOUS`` marks a
    step the SDK registered inline; a component made from a pipeline job (``job_definition=``)
    has ``source_job_id`` (not a YAML field: the job it copies) and no ``jobs``."""
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object with 'properties'")
    properties = lower_keys(body.get("properties"))
    spec = properties.get("componentspec")
    if not isinstance(spec, Mapping):
        raise ValidationError("properties.componentSpec is required: the component's YAML "
                              "fields (name, type, inputs, outputs, command or jobs)")
    kind = spec.get("type") or COMPONENT_TYPE
    if kind not in COMPONENT_TYPES:
        raise ValidationError(f"componentSpec.type {kind!r} is not supported here; the supported "
                              f"types are: {', '.join(COMPONENT_TYPES)}")
    document: dict[str, Any] = {k: v for k, v in spec.items() if k not in _PRIVATE}
    document.update(name=name, version=version, type=kind)
    for key in ("description", "tags"):
        if document.get(key) in (None, {}) and properties.get(key):
            document[key] = properties[key]
    for key in ("code", "environment"):
        if key in document:
            document[key] = _reference(document[key])
    if "inputs" in document:
        document["inputs"] = {k: _declaration_in(v) for k, v in (spec["inputs"] or {}).items()}
    if kind == "pipeline":
        source_job = spec.get("sourceJobId") or spec.get("source_job_id")
        if source_job:
            document["source_job_id"] = _name(source_job)
            document.pop("jobs", None)
        else:
            document["jobs"] = {k: step_in(v) for k, v in (spec.get("jobs") or {}).items()}
    return {k: v for k, v in document.items() if v is not None}


def _declaration_in(declaration: Any) -> Any:
    if not isinstance(declaration, Mapping):
        return declaration
    result = dict(declaration)
    for key in ("default", "min", "max"):
        if key in result:
            result[key] = _literal(result.get("type"), result[key])
    return result


def step_in(step: Mapping) -> dict:
    """A REST step of ``jobs:`` as written in YAML: ``component: azureml:<name>:<version>``,
    inputs bound as ``${{…}}`` strings or literals, or ``{type, path}``."""
    fields = _keys(step)
    document: dict[str, Any] = {k: v for k, v in step.items() if k not in (
        "name", "componentId", "component_id", "inputs", "outputs", "computeId", "_source")}
    document["type"] = step.get("type") or STEP_TYPE
    component = fields.get("componentid") or step.get("component")
    if component is not None:
        document["component"] = _reference(component)
    if fields.get("computeid") or step.get("compute"):
        document["compute"] = _name(fields.get("computeid") or step.get("compute"))
    document.update(_bindings_in(step))
    return document


def _bindings_in(body: Mapping) -> dict:
    """A step's or a job's ``inputs`` and ``outputs`` in YAML form (those it has)."""
    found: dict[str, Any] = {}
    if body.get("inputs"):
        found["inputs"] = {k: _binding_in(v) for k, v in body["inputs"].items()}
    if body.get("outputs"):
        found["outputs"] = {k: _output_in(v) for k, v in body["outputs"].items()}
    return found


def _binding_in(value: Any) -> Any:
    """``{"job_input_type": "literal", "value": x}`` as ``x``; a data or model input as
    ``{type, path[, mode]}``."""
    spec = _keys(value)
    if not spec:
        return value
    given = spec.get("jobinputtype") or spec.get("type")
    kind = str(given).lower().replace("_", "") if given else LITERAL
    if kind == "literal":
        return spec.get("value")
    if kind not in _URI_KINDS:
        raise ValidationError(f"input type {kind!r} is not supported; the supported types are: "
                              f"literal, {', '.join(_URI_KINDS.values())}")
    result = {"type": _URI_KINDS[kind], "path": _reference(spec.get("uri") or spec.get("path"))}
    if spec.get("mode"):
        result["mode"] = _snake(spec["mode"])
    return result


def _output_in(value: Any) -> Any:
    """``{"type": "literal", "value": "${{parent.outputs.z}}"}`` as that string; an output of
    its own as ``{type[, path][, mode]}``."""
    spec = _keys(value)
    if not spec:
        return value
    given = spec.get("joboutputtype") or spec.get("type")
    kind = str(given).lower().replace("_", "") if given else ""
    if kind == "literal" or (not kind and "value" in spec):
        return spec.get("value")
    result: dict[str, Any] = {"type": _URI_KINDS.get(kind, kind or "uri_folder")}
    if spec.get("uri") or spec.get("path"):
        result["path"] = spec.get("uri") or spec.get("path")
    if spec.get("mode"):
        result["mode"] = _snake(spec["mode"])
    return result


def _snake(value: str) -> str:
    """``ReadOnlyMount`` → ``ro_mount`` and friends (Azure's REST spelling of the YAML's)."""
    return {"readonlymount": "ro_mount", "readwritemount": "rw_mount"}.get(
        str(value).lower(), re.sub(r"(?<!^)(?=[A-Z])", "_", str(value)).lower())


def component_out(document: Mapping, scope: Scope) -> dict:
    """A component version as ``components.get`` reads it: ``Component._from_rest_object``
    takes ``properties.componentSpec`` (the YAML dict, references as ``azureml:`` + ARM id)."""
    spec: dict[str, Any] = {k: v for k, v in document.items()
                            if k not in ("id", "creation_context", "source_job_id")}
    for key, segment in (("code", "codes"), ("environment", "environments")):
        if isinstance(spec.get(key), str) and spec[key].startswith("azureml:") and \
                not spec[key].startswith("azureml://"):
            spec[key] = "azureml:" + _arm(scope, segment, spec[key])
    if document.get("type") == "pipeline":
        spec["jobs"] = {k: step_out_rest(k, v, scope) for k, v in
                        (document.get("jobs") or {}).items()}
        if document.get("source_job_id"):
            spec["sourceJobId"] = document["source_job_id"]
    name, version = document["name"], str(document["version"])
    return {
        "id": arm_id(scope, "components", name, version), "name": version,
        "type": f"{PROVIDER}/workspaces/components/versions",
        "systemData": system_data(document),
        "properties": {"componentSpec": spec, "description": document.get("description"),
                       "tags": document.get("tags") or {}, "properties": {},
                       "isAnonymous": name == ANONYMOUS, "isArchived": False,
                       "provisioningState": "Succeeded"},
    }


def component_container_out(document: Mapping, scope: Scope, next_version: str | None) -> dict:
    """``components/{name}``: the latest version's container (``latestVersion``)."""
    return {"id": arm_id(scope, "components", document["name"]), "name": document["name"],
            "type": f"{PROVIDER}/workspaces/components", "systemData": system_data(document),
            "properties": {"latestVersion": str(document["version"]),
                           "nextVersion": next_version, "isArchived": False,
                           "description": document.get("description"), "tags": {},
                           "properties": {}}}


def step_out_rest(step_name: str, step: Mapping, scope: Scope) -> dict:
    """A YAML step of ``jobs:`` as a REST step (the form the SDK sends and parses back)."""
    rest: dict[str, Any] = {k: v for k, v in step.items()
                            if k not in ("component", "inputs", "outputs", "compute")}
    rest["name"] = step_name
    rest["type"] = step.get("type") or STEP_TYPE
    component = step.get("component")
    if isinstance(component, str):
        rest["componentId"] = _arm(scope, "components", component)
    elif component is not None:
        rest["component"] = component  # inline: the SDK never sends it so; the CLI may
    if step.get("compute"):
        rest["computeId"] = _arm(scope, "computes", _name(step["compute"]))
    inputs = {}
    for key, value in (step.get("inputs") or {}).items():
        if isinstance(value, Mapping) and value.get("path") is not None:
            inputs[key] = {"job_input_type": value.get("type", DATA_TYPE),
                           "uri": _input_uri(scope, value)}
        else:
            inputs[key] = {"job_input_type": "literal",
                           "value": value.get("value") if isinstance(value, Mapping) else value}
    outputs = {}
    for key, value in (step.get("outputs") or {}).items():
        if isinstance(value, str):
            outputs[key] = {"type": "literal", "value": value}
        elif isinstance(value, Mapping):
            outputs[key] = {"job_output_type": value.get("type", DATA_TYPE),
                            **({"uri": value["path"]} if value.get("path") else {})}
    if inputs:
        rest["inputs"] = inputs
    if outputs:
        rest["outputs"] = outputs
    return rest


def _input_uri(scope: Scope, value: Mapping) -> Any:
    kind = str(value.get("type", ""))
    segment = "models" if kind.endswith("_model") else "data"
    return _arm(scope, segment, value.get("path"))


# ----------------------------------------------------------------------------- pipeline jobs


def pipeline_job_in(name: str, body: Mapping) -> dict:
    """The pipeline job's YAML dict from ARM's job body (``jobType: Pipeline``)."""
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object with 'properties'")
    p = lower_keys(body.get("properties"))
    kind = str(p.get("jobtype") or "")
    if kind.lower() != "pipeline":
        raise ValidationError(f"properties.jobType {kind!r}: only Pipeline jobs run here (a "
                              "command job runs as a step of a pipeline job)")
    document: dict[str, Any] = {"name": name, "type": "pipeline"}
    for key, field in (("displayname", "display_name"), ("description", "description"),
                       ("experimentname", "experiment_name"), ("tags", "tags")):
        # (the SDK's job ``properties`` are its bookkeeping; the job YAML has none)
        if p.get(key):
            document[field] = p[key]
    if p.get("computeid"):
        document["compute"] = _name(p["computeid"])
    if p.get("componentid"):
        document["component"] = _reference(p["componentid"])
    settings = {k: v for k, v in (p.get("settings") or {}).items() if not k.startswith("_")}
    for key in ("default_compute", "default_datastore"):
        if settings.get(key):
            settings[key] = _name(settings[key])
    if "continue_on_step_failure" in settings:
        settings["continue_on_step_failure"] = _literal("boolean",
                                                        settings["continue_on_step_failure"])
    if settings:
        document["settings"] = settings
    document.update(_bindings_in(p))
    if p.get("jobs"):
        document["jobs"] = {k: step_in(v) for k, v in p["jobs"].items()}
    return document


def pipeline_job_out(document: Mapping) -> dict:
    """A pipeline job as ARM's jobs API shows it (``PipelineJob._from_rest_object`` parses it).

    ``document``: the pipeline job's YAML dict plus ``id`` (its ARM id), ``status``,
    ``creation_context`` (``created_at``, ``created_by``, ``last_modified_at``) and, once known,
    the ``path`` of each output, ``services`` (``Studio.endpoint``) and ``error``."""
    scope = _scope(document["id"])
    settings = dict(document.get("settings") or {})
    for key, segment in (("default_compute", "computes"), ("default_datastore", "datastores")):
        if settings.get(key):
            settings[key] = _arm(scope, segment, _name(settings[key]))
    inputs = {}
    for key, value in (document.get("inputs") or {}).items():
        if isinstance(value, Mapping) and value.get("path") is not None:
            inputs[key] = {"jobInputType": value.get("type", DATA_TYPE),
                           "uri": _input_uri(scope, value)}
        else:
            literal = value.get("value", value.get("default")) if isinstance(value, Mapping) \
                else value
            inputs[key] = {"jobInputType": "literal", "value": _text(literal)}
    outputs = {key: {"jobOutputType": value.get("type", DATA_TYPE),
                     **({"uri": value["path"]} if value.get("path") else {})}
               for key, value in (document.get("outputs") or {}).items()
               if isinstance(value, Mapping)}
    properties: dict[str, Any] = {
        "jobType": "Pipeline", "status": document.get("status", "NotStarted"),
        "displayName": document.get("display_name") or document["name"],
        "description": document.get("description"),
        "experimentName": document.get("experiment_name") or "Default",
        "tags": document.get("tags") or {}, "properties": document.get("properties") or {},
        "isArchived": False, "settings": settings, "inputs": inputs, "outputs": outputs,
        "jobs": {k: step_out_rest(k, v, scope) for k, v in (document.get("jobs") or {}).items()},
    }
    if document.get("compute"):
        properties["computeId"] = _arm(scope, "computes", _name(document["compute"]))
    if document.get("component"):
        properties["componentId"] = _arm(scope, "components", document["component"])
    studio = ((document.get("services") or {}).get("Studio") or {}).get("endpoint")
    if studio:
        properties["services"] = {"Studio": {"endpoint": studio, "jobServiceType": "Studio"}}
    if document.get("error"):
        properties["error"] = document["error"]
    return {"id": document["id"], "name": document["name"],
            "type": f"{PROVIDER}/workspaces/jobs",
            "systemData": job_system_data(document) if document.get("creation_context")
            else system_data(document), "properties": properties}


def _text(value: Any) -> Any:
    """A literal as the SDK sends it: a string (``True`` → ``"True"``, as ``str()`` does)."""
    return value if value is None or isinstance(value, str) else str(value)


def step_job_out(step: Mapping) -> dict:
    """``GET jobs/{step}``: a pipeline's child as ARM shows it, ``properties: null``, which
    sends the SDK to run history (``step_out``) for it."""
    return {"id": step["id"], "name": step["name"], "type": f"{PROVIDER}/workspaces/jobs",
            "properties": None}


def step_out(step: Mapping) -> dict:
    """A step as run history shows a run (``runs/{step}``, and each of ``runs/{job}/children``).

    ``step``: ``name`` (the child job's name), ``parent_job_name``, ``display_name`` (the
    step's key in ``jobs:``), ``status``, ``experiment_name``, ``compute``,
    ``creation_context``, ``start_time``/``end_time`` (ISO strings) and ``error`` (a message)."""
    context = step.get("creation_context") or {}
    user = {"userName": context.get("created_by", "local-user")}
    run: dict[str, Any] = {
        "runId": step["name"], "parentRunId": step.get("parent_job_name"),
        "rootRunId": step.get("parent_job_name") or step["name"],
        "displayName": step.get("display_name") or step["name"], "status": step["status"],
        "runType": "azureml.StepRun", "target": _name(step.get("compute")) or "local",
        "compute": {"target": _name(step.get("compute")) or "local"},
        "experimentId": step.get("experiment_name"), "tags": step.get("tags") or {},
        "properties": {"azureml.nodeid": step.get("display_name") or step["name"]},
        "createdUtc": context.get("created_at"), "createdBy": user,
        "lastModifiedUtc": context.get("last_modified_at"), "lastModifiedBy": user,
        "startTimeUtc": step.get("start_time"), "endTimeUtc": step.get("end_time"),
    }
    if step.get("error"):
        run["error"] = {"error": {"code": "UserError", "message": step["error"]}}
    return run


def children_out(steps: list[Mapping]) -> dict:
    """``runs/{job}/children``: the pipeline's steps (``jobs.list(parent_job_name=)``)."""
    return {"value": [step_out(step) for step in steps], "nextLink": None}


def output_asset_id(workspace: str, run: str, output: str) -> str:
    """The data asset id ``rundata`` names a step output by (``jobs.download``)."""
    return (f"azureml://locations/local/workspaces/{workspace}/data/"
            f"azureml_{run}_output_data_{output}/versions/1")


def parse_output_asset(asset_id: str) -> tuple[str, str, str] | None:
    """``(workspace, run, output)`` of an ``output_asset_id``, for ``batchGetResolvedUris``."""
    match = _OUTPUT_ASSET.match(asset_id)
    return (match["workspace"], match["run"], match["output"]) if match else None


def step_run_data_out(step: Mapping, workspace: str) -> dict:
    """``POST rundata`` for a step: its named outputs as data asset ids."""
    return {"runMetadata": {"runId": step["name"], "status": step["status"], "outputs": {
        name: {"assetId": output_asset_id(workspace, step["name"], name),
               "type": output.get("type", DATA_TYPE)}
        for name, output in (step.get("outputs") or {}).items()}}}


# ----------------------------------------------------------------------------- deployments


def pipeline_deployment_in(name: str, endpoint: str, body: Mapping,
                           source_job_id: str | None = None) -> dict:
    """The YAML dict of a ``type: pipeline`` batch deployment. The SDK turns ``job_definition=``
    into a component with ``source_job_id`` (see ``component_in``): pass that job's name as
    ``source_job_id`` and the deployment says ``job_definition: azureml:<job>`` instead."""
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object with 'properties'")
    p = lower_keys(body.get("properties"))
    configuration = lower_keys(p.get("deploymentconfiguration"))
    kind = str(configuration.get("deploymentconfigurationtype") or "")
    if kind.lower() != "pipelinecomponent":
        raise ValidationError(f"deploymentConfiguration.deploymentConfigurationType {kind!r}: a "
                              "pipeline deployment is of type PipelineComponent")
    component = lower_keys(configuration.get("componentid")).get("assetid")
    if not component and not source_job_id:
        raise ValidationError("deploymentConfiguration.componentId.assetId is required: the ARM "
                              "id of a registered pipeline component")
    document: dict[str, Any] = {"name": name, "endpoint_name": endpoint, "type": "pipeline"}
    if source_job_id:
        document["job_definition"] = f"azureml:{source_job_id}"
    else:
        document["component"] = _reference(component)
    settings = dict(configuration.get("settings") or {})
    for key in ("default_compute", "default_datastore"):
        if settings.get(key):
            settings[key] = _name(settings[key])
    if "continue_on_step_failure" in settings:
        settings["continue_on_step_failure"] = _literal("boolean",
                                                        settings["continue_on_step_failure"])
    if settings:
        document["settings"] = settings
    description = p.get("description") or configuration.get("description")
    if description:
        document["description"] = description
    if body.get("tags"):
        document["tags"] = body["tags"]
    return document


def pipeline_deployment_out(document: Mapping, scope: Scope) -> dict:
    """A ``type: pipeline`` deployment as ARM shows it. ``document["component"]`` names the
    component deployed (for a ``job_definition`` deployment, the one the service made of it)."""
    settings = {k: v for k, v in (document.get("settings") or {}).items() if v is not None}
    component = document.get("component") or f"azureml:{ANONYMOUS}:1"
    return {
        "id": document["id"], "name": document["name"],
        "type": f"{PROVIDER}/workspaces/batchEndpoints/deployments", "location": "local",
        "tags": document.get("tags") or {}, "systemData": system_data(document),
        "properties": {
            "description": document.get("description") or "",
            "deploymentConfiguration": {
                "deploymentConfigurationType": "PipelineComponent",
                "componentId": {"referenceType": "Id",
                                "assetId": _arm(scope, "components", component)},
                "settings": settings, "tags": document.get("tags") or {},
                "description": document.get("description")},
            "provisioningState": "Succeeded", "properties": {},
        },
    }


# ----------------------------------------------------------------------------- invoke


def invoke_inputs_in(body: Mapping) -> tuple[dict, dict]:
    """The named inputs and outputs of an invoke's GA body, as an ``inputs.yml`` has them:
    ``{name: {type, path}}`` for data and models, ``{name: {type, default}}`` for literals (the
    type from the JSON value: string, integer, number or boolean)."""
    if not isinstance(body, Mapping):
        raise ValidationError("the request body must be a JSON object with 'properties'")
    p = lower_keys(lower_keys(body).get("properties"))
    inputs: dict[str, dict] = {}
    for name, spec in (p.get("inputdata") or {}).items():
        fields = _keys(spec)
        kind = str(fields.get("jobinputtype") or "").lower().replace("_", "")
        if kind == "literal" or (not kind and "value" in fields):
            value = fields.get("value")
            inputs[name] = {"type": _json_type(value), "default": value}
        elif kind in _URI_KINDS:
            inputs[name] = {"type": _URI_KINDS[kind], "path": _reference(fields.get("uri"))}
        else:
            raise ValidationError(f"properties.InputData.{name}.JobInputType "
                                  f"{fields.get('jobinputtype')!r} is not supported; the "
                                  "supported types are: Literal, UriFolder, UriFile, "
                                  "MLFlowModel, CustomModel")
    outputs: dict[str, dict] = {}
    for name, spec in (p.get("outputdata") or {}).items():
        fields = _keys(spec)
        kind = str(fields.get("joboutputtype") or "urifolder").lower().replace("_", "")
        outputs[name] = {"type": _URI_KINDS.get(kind, "uri_folder"),
                         "path": re.sub(r"(?<!:)//+", "/", str(fields.get("uri", "")))}
    return inputs, outputs


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


# ----------------------------------------------------------------------------- routing


def job_type(body: Any) -> str:
    """``properties.jobType`` of a job body (``Pipeline``, ``Command``, ``Sweep`` …)."""
    return str(lower_keys(lower_keys(body).get("properties")).get("jobtype") or "")


def is_pipeline_deployment(body: Any) -> bool:
    """A deployment body of ``deploymentConfigurationType: PipelineComponent``."""
    configuration = lower_keys(lower_keys(lower_keys(body).get("properties")).get(
        "deploymentconfiguration"))
    return str(configuration.get("deploymentconfigurationtype") or "").lower() == \
        "pipelinecomponent"


def pipeline_batch_job_out(document: Mapping, endpoint_id: str) -> dict:
    """The data plane's BatchJobResource of an invoked pipeline: its named inputs and
    outputs (literals as ``Literal`` values)."""
    inputs = {}
    for key, value in (document.get("inputs") or {}).items():
        if isinstance(value, Mapping) and value.get("path") is not None:
            kind = str(value.get("type", DATA_TYPE))
            inputs[key] = {"jobInputType": "".join(p.title() for p in kind.split("_")),
                           "uri": value["path"]}
        else:
            inputs[key] = {"jobInputType": "Literal", "value": _text(
                value.get("value") if isinstance(value, Mapping) else value)}
    studio = ((document.get("services") or {}).get("Studio") or {}).get("endpoint")
    context = document.get("creation_context") or {}
    return {
        "id": f"{endpoint_id}/jobs/{document['name']}", "name": document["name"],
        "type": f"{PROVIDER}/workspaces/batchEndpoints/jobs",
        "systemData": {"createdAt": context.get("created_at"),
                       "createdBy": context.get("created_by")},
        "properties": {
            "status": document["status"], "name": document["name"],
            "provisioningState": {"Completed": "Succeeded", "Failed": "Failed",
                                  "Canceled": "Canceled"}.get(document["status"], "InProgress"),
            "inputData": inputs,
            "outputData": {key: {"jobOutputType": "UriFolder", "uri": value.get("path")}
                           for key, value in (document.get("outputs") or {}).items()},
            "interactionEndpoints": {"Studio": {"endpoint": studio,
                                                "jobEndpointType": "Studio"}},
            "properties": document.get("properties") or {},
            **({"error": document["error"]} if document.get("error") else {}),
        },
    }
