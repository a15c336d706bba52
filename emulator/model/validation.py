"""Every YAML kind ``az ml`` takes: tell the kind, validate files, load one resource.

The schemas in ``schemas/`` decide keys, types, enums and defaults; this module adds what
sits beside them: telling a file's kind (SPEC §3), the batch-deployment rules that live
outside the schema, and filling the schema's defaults into a loaded resource. The CLI
``validate`` command prints :func:`validate_files`; the ``create`` commands and the service
call :func:`load_resource`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from emulator.exceptions import NotSupportedError, ValidationError
from emulator.model import schemas
from emulator.model.specs import apply_set_values

KINDS = ("batch_endpoint", "batch_deployment", "model", "environment", "data", "compute", "datastore",
         "component", "pipeline_job", "pipeline_deployment")
DEPLOYMENT = "batch_deployment"
PIPELINE_DEPLOYMENT = "pipeline_deployment"

# The file part of a `$schema` URL, lowercased, without '.schema.json' and punctuation.
_SCHEMA_NAMES = {
    "batchendpoint": "batch_endpoint",
    "batchdeployment": DEPLOYMENT,
    "modelbatchdeployment": DEPLOYMENT,
    "pipelinecomponentbatchdeployment": PIPELINE_DEPLOYMENT,
    "commandcomponent": "component",
    "pipelinecomponent": "component",
    "component": "component",
    "pipelinejob": "pipeline_job",
    "model": "model",
    "environment": "environment",
    "data": "data",
    "compute": "compute",
    "datastore": "datastore",
}
# Keys that only one kind has, for files without a known `$schema` (types are checked first).
_KEYS_OF = (
    (DEPLOYMENT, ("endpoint_name", "model", "code_configuration")),
    ("compute", ("scheduler_address", "min_instances", "max_instances", "idle_time_before_scale_down")),
    ("datastore", ("account_name", "container_name", "filesystem", "file_share_name", "bucket")),
    ("environment", ("image", "conda_file", "build")),
    ("model", ("flavors", "local_path", "stage")),
)


def _type_enum(kind: str) -> tuple[str, ...]:
    return tuple(schemas.load_schema(kind)["properties"]["type"]["enum"])


def detect_kind(data: object) -> str:
    """The kind of a parsed YAML document: by its ``$schema`` URL, else by its keys (SPEC §3).

    ``$schema`` file names: ``batchEndpoint``, ``batchDeployment`` / ``modelBatchDeployment`` /
    ``pipelineComponentBatchDeployment``, ``model``, ``environment``, ``data``, ``amlCompute`` /
    ``kubernetesCompute`` / ``compute`` (any ``…Compute…``), ``azureBlob`` / ``azureDataLakeGen2`` /
    ``azureFile`` / ``datastore`` (any ``azure…`` or ``…Datastore``); the emulator's own
    ``$id`` URLs too. Without one: ``type`` as the schemas enumerate it (``model|pipeline``,
    ``uri_folder|uri_file|mltable``, compute and datastore types, model types), then keys only
    one kind has (``endpoint_name``, ``model``, ``code_configuration`` → deployment; ``image``,
    ``conda_file``, ``build`` → environment; ``flavors`` → model…), then a ``path`` → model;
    anything else is a batch endpoint.
    """
    if not isinstance(data, Mapping):
        return "batch_endpoint"
    by_url = _kind_of_schema_url(data.get("$schema"))
    if by_url:
        return by_url
    kind_type = data.get("type")
    if kind_type == "command":
        return "component"
    if kind_type == "pipeline":
        return _pipeline_kind(data)
    if isinstance(kind_type, str):
        for kind in (DEPLOYMENT, "data", "compute", "datastore", "model"):
            if kind_type in _type_enum(kind):
                return kind
    for kind, keys in _KEYS_OF:
        if any(key in data for key in keys):
            return kind
    if "path" in data:
        return "model"
    return "batch_endpoint"


def _pipeline_kind(data: Mapping) -> str:
    """``type: pipeline`` is a deployment (it names an endpoint or a job definition, or only a
    component), a job (steps or a component, with a compute, inputs or an experiment) or
    else a pipeline component (steps alone)."""
    if "endpoint_name" in data or "job_definition" in data:
        return PIPELINE_DEPLOYMENT
    settings = data.get("settings")
    job_keys = ("compute", "experiment_name", "display_name", "inputs", "outputs")
    if any(key in data for key in job_keys) or (
            isinstance(settings, Mapping) and "default_compute" in settings and "jobs" in data):
        return "pipeline_job"
    return "component" if "jobs" in data else PIPELINE_DEPLOYMENT


def _kind_of_schema_url(url: object) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return None
    name = url.strip().rstrip("/").rpartition("/")[2].split("#")[0]
    name = re.sub(r"[^a-z0-9]", "", name.lower().removesuffix(".json").removesuffix(".schema"))
    if name in _SCHEMA_NAMES:
        return _SCHEMA_NAMES[name]
    if "compute" in name:
        return "compute"
    if name.startswith("azure") or name.endswith("datastore"):
        return "datastore"
    return None


def validate_files(paths: Sequence[str | Path], kind: str | None = None) -> list[str]:
    """Every error of every file, each as ``file:line: json.path: message``; [] = all valid.

    ``kind`` forces the kind of every file (``--kind``); otherwise each file's kind is told
    by :func:`detect_kind`. A missing or unreadable file, or malformed YAML, is one line.
    """
    if kind is not None:
        _check_kind(kind)
    errors: list[str] = []
    for path in paths:
        try:
            document = schemas.load_document(path)
        except ValidationError as exc:
            errors.extend(exc.errors)
            continue
        errors.extend(document_errors(kind or detect_kind(document.data), document))
    return errors


def document_errors(kind: str, document: schemas.Document) -> list[str]:
    """Every error of one parsed document, schema errors and the rules beside them, by line."""
    _check_kind(kind)
    if kind == DEPLOYMENT and _is_pipeline(document):
        kind = PIPELINE_DEPLOYMENT
    errors = schemas.validation_errors(kind, document)
    if kind == DEPLOYMENT:
        errors += _deployment_rule_errors(document)
    return sorted(errors, key=_line_number)


def load_resource(kind: str, path: str | Path | None = None, set_values: Iterable[str] = (),
                  base: Mapping | None = None) -> dict:
    """One resource of ``kind`` from YAML and ``--set`` overrides, validated, defaults filled in.

    The data starts from a copy of ``base`` (or ``{}``); the top-level keys of the YAML at
    ``path``, when given, replace base's; then each ``--set path=value`` is applied. Invalid
    data raises ``ValidationError`` (message: the best error, ``.errors``: all of them).
    The schema's defaults fill absent keys (a compute's or datastore's per-type ones too);
    values given as strings stay strings. A batch deployment is only validated, not filled:
    ``specs`` builds it with its defaults.
    """
    _check_kind(kind)
    data: dict[str, Any] = copy.deepcopy(dict(base or {}))
    source, lines = f"<{kind.replace('_', '-')}>", {}
    if path is not None:
        document = schemas.load_document(path)
        if not isinstance(document.data, Mapping):
            raise ValidationError(f"{document.source}:1: $: a {kind.replace('_', ' ')} must be a "
                                  "YAML mapping of keys to values")
        data.update(document.data)
        source, lines = document.source, document.lines
    data = apply_set_values(data, set_values)
    document = schemas.Document(data, source, lines)
    if kind == DEPLOYMENT:
        check_deployment(document)
        return data
    schemas.validate(kind, document)
    return schemas.fill_defaults(kind, data)


def check_deployment(document: schemas.Document) -> None:
    """Refuse a deployment document: an unsupported type, the schema's best error, then the
    rules beside the schema (``validate`` lists the same errors with :func:`document_errors`)."""
    if _is_pipeline(document):
        raise NotSupportedError(_pipeline_error(document))
    schemas.validate(DEPLOYMENT, document)
    rule_errors = _deployment_rule_errors(document)
    if rule_errors:
        raise ValidationError(rule_errors[0], tuple(rule_errors))


# --------------------------------------------------------------------------------------
# batch deployment rules that live outside the schema


def _deployment_rule_errors(document: schemas.Document) -> list[str]:
    data = document.data
    if not isinstance(data, Mapping):
        return []
    settings = data.get("settings") if "type" in data else data
    where: tuple[str, ...] = ("settings",) if "type" in data else ()
    if (isinstance(settings, Mapping) and settings.get("output_action") == "summary_only"
            and "output_file_name" in settings):
        return [_located(document, (*where, "output_file_name"),
                         "When output_action is set to summary_only, the output_file_name need not "
                         "to be specified; remove output_file_name or use output_action: append_row")]
    return []


def _is_pipeline(document: schemas.Document) -> bool:
    return isinstance(document.data, Mapping) and document.data.get("type") == "pipeline"


def _pipeline_error(document: schemas.Document) -> str:
    return _located(document, ("type",), "a type: pipeline deployment is not a model deployment: "
                    "create it with 'batch-deployment create', not run")


def _located(document: schemas.Document, path: tuple[str | int, ...], message: str) -> str:
    line = document.line_of(path)
    location = f"{document.source}:{line}" if line else document.source
    json_path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"{location}: {json_path}: {message}"


def _line_number(error: str) -> int:
    match = re.match(r"[^\n]*?:(\d+): ", error)
    return int(match.group(1)) if match else 0


JOB_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


def check_job_name(name: str) -> None:
    """Azure's rule for job names; it also keeps a job's folder inside the workspace."""
    if not isinstance(name, str) or not JOB_NAME.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise ValidationError(f"job name {shown} is not valid: 1-255 letters, digits, '_' or "
                              "'-'; choose another --job-name")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
