"""Deployment specs: frozen dataclasses built from validated YAML, Azure's field names.

Both deployment layouts (current ``type: model`` + ``settings:``, and the flat layout of the
seed article) normalise to one ``BatchDeployment``. Defaults come from the schema.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable, Mapping, Sequence
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
        _put(nested, _path_parts(key, "--set"), value)
    document = schemas.Document(nested, "invoke overrides", {})
    schemas.validate(INVOKE_OVERRIDES, document)
    return nested


def apply_set_values(data: Mapping[str, Any], set_values: Iterable[str]) -> dict[str, Any]:
    """``--set a.b=c`` on a copy of ``data``; values parsed as YAML scalars, as az does."""
    return Updates(tuple(set_values)).apply(data)


def parse_set_item(item: str, force_string: bool = False) -> tuple[str, Any]:
    """``PATH=VALUE`` as (path, value); the value parsed as YAML, as ``az`` does, or kept a
    string with ``--force-string``."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        shown = item if len(item) <= 80 else item[:77] + "..."
        raise ValidationError(f"--set {shown!r}: expected PATH=VALUE, e.g. "
                              "--set settings.mini_batch_size=5")
    return key.strip(), _value(raw, f"--set {key.strip()}", force_string)


def _value(raw: str, source: str, force_string: bool) -> Any:
    return raw if force_string else schemas.parse_value(raw, source)


@dataclass(frozen=True)
class Updates:
    """``az``'s generic update arguments, applied in az's order: every ``--set PATH=VALUE``,
    then every ``--add PATH VALUE…`` (to a list: ``KEY=VALUE`` words make one object, other
    words one item each; to a mapping such as ``tags``: ``KEY=VALUE`` words), then every
    ``--remove PATH [INDEX]``. ``force_string`` keeps values as strings instead of parsing
    them. Paths are dotted, with ``[N]`` for list items: ``settings.x``, ``items[0].name``."""

    set_values: tuple[str, ...] = ()
    add: tuple[tuple[str, ...], ...] = ()
    remove: tuple[tuple[str, ...], ...] = ()
    force_string: bool = False

    @classmethod
    def of(cls, set_values: Iterable[str] = (), add: Iterable[Sequence[str]] = (),
           remove: Iterable[Sequence[str]] = (), force_string: bool = False) -> Updates:
        return cls(tuple(set_values), tuple(tuple(w) for w in add),
                   tuple(tuple(w) for w in remove), force_string)

    def apply(self, data: Mapping[str, Any]) -> dict[str, Any]:
        result = copy.deepcopy(dict(data))
        for item in self.set_values:
            path, value = parse_set_item(item, self.force_string)
            _put(result, _path_parts(path, "--set"), value)
        for words in self.add:
            self._add(result, words)
        for words in self.remove:
            _remove(result, words)
        return result

    def _add(self, data: dict[str, Any], words: tuple[str, ...]) -> None:
        if len(words) < 2:
            raise ValidationError(f"--add {' '.join(words)!r}: expected --add PATH VALUE..., e.g. "
                                  "--add tags stage=test")
        parts = _path_parts(words[0], "--add")
        target = _get(data, parts)
        pairs = [word.partition("=") for word in words[1:]]
        if isinstance(target, dict) or (target is None and all(sep for _, sep, _ in pairs)
                                        and parts[-1] in ("tags", "properties")):
            if not all(sep for _, sep, _ in pairs):
                raise ValidationError(f"--add {words[0]}: {words[0]} is a mapping; give "
                                      "KEY=VALUE words")
            target = {} if target is None else target
            target.update({k: _value(v, f"--add {words[0]}", self.force_string)
                           for k, _, v in pairs})
            _put(data, parts, target)
            return
        if target is None:
            target = []
        if not isinstance(target, list):
            raise ValidationError(f"--add {words[0]}: {words[0]} is neither a list nor a mapping; "
                                  "use --set")
        entry: dict[str, Any] = {}
        for key, sep, raw in pairs:
            if sep:  # consecutive KEY=VALUE words make one object, as az does
                entry[key] = _value(raw, f"--add {words[0]}", self.force_string)
                continue
            if entry:
                target.append(entry)
                entry = {}
            target.append(_value(key, f"--add {words[0]}", self.force_string))
        if entry:
            target.append(entry)
        _put(data, parts, target)


def _remove(data: dict[str, Any], words: tuple[str, ...]) -> None:
    if len(words) not in (1, 2):
        raise ValidationError(f"--remove {' '.join(words)!r}: expected --remove PATH or "
                              "--remove LIST_PATH INDEX")
    parts = _path_parts(words[0], "--remove")
    if len(words) == 2:
        target = _get(data, parts)
        if not isinstance(target, list):
            raise ValidationError(f"--remove {words[0]} {words[1]}: {words[0]} is not a list")
        try:
            del target[int(words[1])]
        except (ValueError, IndexError):
            raise ValidationError(f"--remove {words[0]} {words[1]}: no item {words[1]!r} in a "
                                  f"list of {len(target)}") from None
        return
    parent = _get(data, parts[:-1])
    try:
        del parent[parts[-1]]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        raise ValidationError(f"--remove {words[0]}: there is no {words[0]} to remove") from None


def _path_parts(path: str, option: str) -> list[str | int]:
    """``a.b[2].c`` as ``["a", "b", 2, "c"]``."""
    parts: list[str | int] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        while rest:
            index, sep, rest = rest.partition("]")
            if not sep or not index.lstrip("-").isdigit() or (rest and not rest.startswith("[")):
                raise ValidationError(f"{option} {path!r}: expected a dotted path with [N] for "
                                      "list items, e.g. settings.mini_batch_size")
            parts.append(int(index))
            rest = rest[1:]
    if not parts or any(part == "" for part in parts):
        raise ValidationError(f"{option} {path!r}: expected a dotted path, e.g. tags.stage")
    return parts


def _get(data: Any, parts: list[str | int]) -> Any:
    for part in parts:
        if isinstance(part, int):
            if not isinstance(data, list) or not -len(data) <= part < len(data):
                return None
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _put(target: Any, parts: list[str | int], value: Any) -> None:
    for position, part in enumerate(parts[:-1]):
        if isinstance(part, int):
            if not isinstance(target, list) or not -len(target) <= part < len(target):
                raise ValidationError(f"no item [{part}] at {_shown(parts[:position + 1])}")
            target = target[part]
            continue
        node = target.get(part)
        if not isinstance(node, (dict, list)):
            node = {}
            target[part] = node
        target = node
    last = parts[-1]
    if isinstance(last, int) and not (isinstance(target, list) and -len(target) <= last < len(target)):
        raise ValidationError(f"no item [{last}] at {_shown(parts)}")
    target[last] = value


def _shown(parts: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


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
