"""Deployment specs: frozen dataclasses built from validated YAML, Azure's field names.

Both deployment layouts (current ``type: model`` + ``settings:``, and the flat layout of the
seed article) normalise to one ``BatchDeployment``. Defaults come from the schema.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from emulator.exceptions import ScoringScriptError, ValidationError
from emulator.model import schemas

DEPLOYMENT = "batch_deployment"
INVOKE_OVERRIDES = "invoke_overrides"


@dataclass(frozen=True)
class RetrySettings:
    max_retries: int
    timeout: int


@dataclass(frozen=True)
class BatchDeploymentSettings:
    max_concurrency_per_instance: int
    mini_batch_size: int
    retry_settings: RetrySettings
    error_threshold: int
    output_action: str
    output_file_name: str
    logging_level: str
    environment_variables: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> BatchDeploymentSettings:
        merged = _deep_merge(schemas.defaults(DEPLOYMENT, "settings_properties"), values)
        retry = merged["retry_settings"]
        return cls(
            max_concurrency_per_instance=int(merged["max_concurrency_per_instance"]),
            mini_batch_size=int(merged["mini_batch_size"]),
            retry_settings=RetrySettings(int(retry["max_retries"]), int(retry["timeout"])),
            error_threshold=int(merged["error_threshold"]),
            output_action=merged["output_action"],
            output_file_name=merged["output_file_name"],
            logging_level=str(merged["logging_level"]).lower(),
            environment_variables={k: _env_string(v) for k, v in
                                   merged["environment_variables"].items()},
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> BatchDeploymentSettings:
        """Invoke-time overrides (SPEC §5), already validated against their schema."""
        changes: dict[str, Any] = {}
        for key in ("mini_batch_size", "error_threshold"):
            if key in overrides:
                changes[key] = int(overrides[key])
        if "output_file_name" in overrides:
            changes["output_file_name"] = overrides["output_file_name"]
        if "logging_level" in overrides:
            changes["logging_level"] = str(overrides["logging_level"]).lower()
        if "retry_settings" in overrides:
            retry = overrides["retry_settings"]
            changes["retry_settings"] = RetrySettings(
                int(retry.get("max_retries", self.retry_settings.max_retries)),
                int(retry.get("timeout", self.retry_settings.timeout)))
        if "environment_variables" in overrides:
            changes["environment_variables"] = {
                **self.environment_variables,
                **{k: _env_string(v) for k, v in overrides["environment_variables"].items()}}
        return replace(self, **changes)


@dataclass(frozen=True)
class ModelReference:
    """A model: a local folder/file (``path``) or a registered one (``reference``)."""

    path: Path | None = None
    reference: str | None = None
    name: str | None = None
    version: str | None = None
    type: str | None = None  # None: the model schema's default


@dataclass(frozen=True)
class CodeConfiguration:
    code: Path
    scoring_script: str

    @property
    def script_path(self) -> Path:
        return self.code / self.scoring_script


@dataclass(frozen=True)
class BatchDeployment:
    name: str
    endpoint_name: str | None
    model: ModelReference
    code_configuration: CodeConfiguration | None
    environment: Any
    compute: str | None
    instance_count: int
    settings: BatchDeploymentSettings
    description: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None


def build_deployment(data: dict[str, Any], base: Path,
                     document: schemas.Document | None = None) -> BatchDeployment:
    """A ``BatchDeployment`` from validated data (see ``loader.load_deployment``); relative
    paths are taken from ``base``."""
    document = document or schemas.Document(data, "deployment", {})
    current_layout = "type" in data
    raw_settings = dict(data.get("settings", {})) if current_layout else {
        k: v for k, v in data.items() if k in schemas.defaults(DEPLOYMENT, "settings_properties")
        or k == "instance_count"}
    instance_count = data.get("resources", {}).get("instance_count")
    if instance_count is None:
        instance_count = raw_settings.get("instance_count", schemas.load_schema(DEPLOYMENT)[
            "properties"]["resources"]["properties"]["instance_count"]["default"])
    raw_settings.pop("instance_count", None)
    code = data.get("code_configuration")
    return BatchDeployment(
        name=data["name"],
        endpoint_name=data.get("endpoint_name"),
        model=_model(data["model"], base),
        code_configuration=CodeConfiguration(
            code=(base / _local_path(code["code"])).resolve(),
            scoring_script=code["scoring_script"]) if code else None,
        environment=data.get("environment"),
        compute=data.get("compute"),
        instance_count=int(instance_count),
        settings=BatchDeploymentSettings.from_mapping(raw_settings),
        description=data.get("description", ""),
        tags=data.get("tags", {}),
        source=Path(document.source) if document.lines else None,
    )


def _model(value: Any, base: Path) -> ModelReference:
    if isinstance(value, str):
        return ModelReference(reference=value)
    local = value.get("path") or value.get("local_path")
    return ModelReference(
        path=(base / local).resolve() if local else None,
        name=value.get("name"),
        version=str(value["version"]) if "version" in value else None,
        type=value.get("type"),
    )


def _local_path(value: str | Mapping[str, str]) -> str:
    return value if isinstance(value, str) else value["local_path"]


def check_scoring_script(code: CodeConfiguration) -> None:
    """Azure parses the scoring script before accepting a deployment; so do we."""
    if not code.code.is_dir():
        raise ScoringScriptError(f"code folder {code.code} does not exist; fix "
                                 "code_configuration.code (relative to the YAML file)")
    script = code.script_path
    if not script.is_file():
        raise ScoringScriptError(f"scoring script {code.scoring_script} not found in {code.code}; "
                                 "fix code_configuration.scoring_script")
    try:
        ast.parse(script.read_bytes(), filename=str(script))
    except SyntaxError as exc:
        raise ScoringScriptError(
            f"Failed to submit deployment due to syntax errors in scoring script {script} "
            f"line {exc.lineno}: {exc.msg}. Fix the script, or bypass this validation with "
            "--skip-script-validation") from None


def validate_invoke_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check invoke-time overrides against their schema; return them as nested dicts."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        _put(nested, key, value)
    document = schemas.Document(nested, "invoke overrides", {})
    schemas.validate(INVOKE_OVERRIDES, document)
    return nested


def apply_set_values(data: Mapping[str, Any], set_values: Iterable[str]) -> dict[str, Any]:
    """``--set a.b=c`` on a copy of ``data``; values parsed as YAML scalars, as az does."""
    result = copy.deepcopy(dict(data))
    for item in set_values:
        _put(result, *parse_set_item(item))
    return result


def parse_set_item(item: str) -> tuple[str, Any]:
    """``PATH=VALUE`` as (path, value); the value parsed as YAML, as ``az`` does."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        shown = item if len(item) <= 80 else item[:77] + "..."
        raise ValidationError(f"--set {shown!r}: expected PATH=VALUE, e.g. "
                              "--set settings.mini_batch_size=5")
    return key.strip(), schemas.parse_value(raw, f"--set {key.strip()}")


def _put(target: dict[str, Any], dotted_key: str, value: Any) -> None:
    parts = dotted_key.split(".")
    for part in parts[:-1]:
        node = target.get(part)
        if not isinstance(node, dict):
            node = {}
            target[part] = node
        target = node
    target[parts[-1]] = value


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def settings_to_mapping(settings: BatchDeploymentSettings) -> dict[str, Any]:
    """The ``settings:`` block of the current layout, every value explicit."""
    return {
        "max_concurrency_per_instance": settings.max_concurrency_per_instance,
        "mini_batch_size": settings.mini_batch_size,
        "retry_settings": {"max_retries": settings.retry_settings.max_retries,
                           "timeout": settings.retry_settings.timeout},
        "error_threshold": settings.error_threshold,
        "output_action": settings.output_action,
        **({"output_file_name": settings.output_file_name}
           if settings.output_action == "append_row" else {}),
        "logging_level": settings.logging_level,
        "environment_variables": dict(settings.environment_variables),
    }
