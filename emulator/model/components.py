"""Components and pipelines as Azure's CLI YAML writes them (``schemas/component.schema.json``).

A component is kept as its YAML mapping. Loading one from a file makes its local paths
absolute (``code``, an environment's ``conda_file``) and loads the components its steps name
by a relative path, recursively; ``azureml:`` references are left for the service to resolve.
The rules beside the schema live here: a command names only declared inputs and outputs;
a pipeline's bindings name inputs, steps and outputs that exist and form no cycle; the inputs
given to a pipeline have the declared types, required ones present, defaults filled in.
"""

from __future__ import annotations

import contextlib
import copy
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from emulator.exceptions import NotSupportedError, ValidationError
from emulator.model import schemas
from emulator.model.specs import apply_set_values

COMPONENT = "component"
PIPELINE_JOB = "pipeline_job"
DATA_TYPES = frozenset({"uri_folder", "uri_file", "mlflow_model", "custom_model", "mltable"})
MODEL_TYPES = frozenset({"mlflow_model", "custom_model"})
LITERAL_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}
UNSUPPORTED_STEPS = {
    "sweep": "sweep jobs (hyperparameter tuning)", "automl": "AutoML jobs",
    "spark": "Spark jobs", "data_transfer": "data transfer jobs", "import": "import jobs",
}
PARALLEL = "parallel"
# The fields of a parallel component that name inputs and outputs, where they are.
PARALLEL_TEMPLATES = (("input_data",), ("task", "program_arguments"), ("task", "append_row_to"))

PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
OPTIONAL_PART = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)
BINDING = re.compile(r"^\$\{\{\s*parent\.(?:inputs\.(?P<input>\w+)|jobs\.(?P<step>\w+)\.outputs\."
                     r"(?P<output>\w+)|outputs\.(?P<pipeline_output>\w+))\s*\}\}$")


REGISTRIES = "azureml://registries/"
CURATED_ENVIRONMENTS = "azureml://registries/azureml/environments/"  # Azure's own registry


def is_reference(value: Any) -> bool:
    """An ``azureml:`` reference to the workspace (registries are not the workspace's)."""
    return isinstance(value, str) and value.startswith("azureml:") and \
        not value.startswith(REGISTRIES)


def load_component(source: str | Path | schemas.Document, set_values: Iterable[str] = (),
                   base: Path | None = None) -> dict[str, Any]:
    """A component from its YAML file (or a parsed document whose paths are relative to
    ``base``), validated, with local paths absolute and relative step components loaded."""
    document = source if isinstance(source, schemas.Document) else schemas.load_document(source)
    if not isinstance(source, schemas.Document):
        base = Path(document.source).resolve().parent
    data = apply_set_values(_mapping(document, "a component"), set_values)
    document = schemas.Document(data, document.source, document.lines)
    schemas.validate(COMPONENT, document)
    return _absolute(copy.deepcopy(data), base or Path.cwd(), document)


def load_pipeline_job(source: str | Path | schemas.Document, set_values: Iterable[str] = (),
                      base: Path | None = None) -> dict[str, Any]:
    """A pipeline job's YAML, validated; its component (a relative path) or inline steps
    loaded as a pipeline component, under ``component``; input paths made absolute."""
    document = source if isinstance(source, schemas.Document) else schemas.load_document(source)
    if not isinstance(source, schemas.Document):
        base = Path(document.source).resolve().parent
    base = base or Path.cwd()
    data = apply_set_values(_mapping(document, "a pipeline job"), set_values)
    document = schemas.Document(data, document.source, document.lines)
    if data.get("type") != "pipeline" and isinstance(data.get("type"), str):
        raise NotSupportedError(_at(document, ("type",), f"{data['type']} jobs are not supported "
                                    "by the emulator: it runs type: pipeline jobs (and batch "
                                    "endpoint jobs)"))
    schemas.validate(PIPELINE_JOB, document)
    data = copy.deepcopy(data)
    if "jobs" in data:  # inline steps: the job is its own pipeline component
        inline = {"name": "azureml_anonymous", "type": "pipeline", "jobs": data.pop("jobs"),
                  "inputs": _declared_from_values(data.get("inputs") or {}),
                  "outputs": {name: {"type": "uri_folder"} for name in data.get("outputs") or {}}}
        data["component"] = _absolute(inline, base, document)
    elif isinstance(data["component"], str) and not is_reference(data["component"]):
        data["component"] = load_component(base / data["component"])
    elif isinstance(data["component"], dict):
        data["component"] = load_component(schemas.Document(data["component"], document.source,
                                                            {}), base=base)
    data["inputs"] = {name: absolute_input(value, base)
                      for name, value in (data.get("inputs") or {}).items()}
    return data


def _mapping(document: schemas.Document, what: str) -> dict[str, Any]:
    if not isinstance(document.data, Mapping):
        raise ValidationError(f"{document.source}:1: $: {what} must be a YAML mapping of keys "
                              "to values")
    return dict(document.data)


def _declared_from_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs an inline pipeline declares: those its job gives, typed by their values."""
    declared = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            typed = {**schemas.defaults(COMPONENT, "given_input"), **value}
            declared[name] = {"type": typed["type"], "optional": True}
        else:
            declared[name] = {"type": _literal_type(value), "optional": True}
    return declared


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "string"


def absolute_input(value: Any, base: Path) -> Any:
    """A data input's local ``path`` made absolute (URIs and references stay as they are)."""
    if isinstance(value, Mapping) and isinstance(value.get("path"), str):
        path = value["path"]
        if "://" not in path and not path.startswith(("azureml:", "folder:", "file:")):
            return {**value, "path": str((base / path).resolve())}
    return value


def runnable(component: Mapping[str, Any]) -> Mapping[str, Any]:
    """Where a component keeps its code and environment: itself, or a parallel one's task."""
    return component["task"] if component.get("type") == PARALLEL else component


def _absolute(data: dict[str, Any], base: Path, document: schemas.Document) -> dict[str, Any]:
    """Local paths of a component made absolute; relative step components loaded."""
    holder = runnable(data)
    code = holder.get("code")
    if isinstance(code, Mapping):
        code = holder["code"] = code.get("local_path")
    if isinstance(code, str) and not is_reference(code) and "://" not in code:
        holder["code"] = str((base / code).resolve())
    environment = holder.get("environment")
    if isinstance(environment, str) and environment.startswith(REGISTRIES) and \
            not environment.startswith(CURATED_ENVIRONMENTS):
        raise NotSupportedError(_at(document, ("environment",), f"{environment}: environments "
                                    "from registries other than Azure's curated 'azureml' are "
                                    "not supported; register the environment in the workspace"))
    if isinstance(environment, dict) and isinstance(environment.get("conda_file"), str):
        environment["conda_file"] = str((base / environment["conda_file"]).resolve())
    for step_name, step in (data.get("jobs") or {}).items():
        kind = step.get("type", "command")
        if kind in UNSUPPORTED_STEPS:
            raise ValidationError(_at(document, ("jobs", step_name, "type"),
                                      f"{UNSUPPORTED_STEPS[kind]} are not supported by the "
                                      "emulator; use command or parallel steps"))
        component = step.get("component")
        if component is None:  # a command written in the step itself
            inline = {key: step.pop(key) for key in ("command", "code", "environment")
                      if key in step}
            if "command" not in inline:
                raise ValidationError(_at(document, ("jobs", step_name),
                                          "a step needs component: or command:"))
            component = {"name": step_name, "type": "command", **inline,
                         "inputs": _declared_from_values(step.get("inputs") or {}),
                         "outputs": {name: {"type": "uri_folder"}
                                     for name in step.get("outputs") or {}}}
            step["component"] = load_component(schemas.Document(component, document.source, {}),
                                               base=base)
        elif isinstance(component, str) and component.startswith(REGISTRIES):
            raise NotSupportedError(_at(document, ("jobs", step_name, "component"),
                                        "components from registries are not supported by the "
                                        "emulator; register the component in the workspace"))
        elif isinstance(component, str) and not is_reference(component):
            path = (base / component).resolve()
            if not path.is_file():
                raise ValidationError(_at(document, ("jobs", step_name, "component"),
                                          f"{component}: no such component file (looked in "
                                          f"{path.parent})"))
            step["component"] = load_component(path)
        elif isinstance(component, Mapping):
            step["component"] = load_component(schemas.Document(dict(component),
                                                                document.source, {}), base=base)
    if data.get("type", "command") in ("command", PARALLEL):
        check_command(data, document)
    return data


def check_command(component: Mapping[str, Any], document: schemas.Document | None = None) -> None:
    """A command (a parallel component's input_data, program_arguments and append_row_to)
    names only the component's declared inputs and outputs."""
    declared = {"inputs": set(component.get("inputs") or {}),
                "outputs": set(component.get("outputs") or {})}
    fields = PARALLEL_TEMPLATES if component.get("type") == PARALLEL else (("command",),)
    for field in fields:
        text = component.get(field[0])
        text = text.get(field[1]) if isinstance(text, Mapping) and len(field) > 1 else text
        for kind, name in PLACEHOLDER.findall(text if isinstance(text, str) else ""):
            if name not in declared[kind]:
                known = ", ".join(sorted(declared[kind])) or "none"
                raise ValidationError(_at(document, field,
                                          f"${{{{{kind}.{name}}}}} names no declared "
                                          f"{kind[:-1]} of component {component.get('name')!r} "
                                          f"({kind}: {known})"))


def check_pipeline(component: Mapping[str, Any], where: str = "pipeline") -> list[str]:
    """The steps of a pipeline component (every step's component resolved to a mapping) in
    an order where each comes after the steps whose outputs it uses; a ``ValidationError``
    naming the field for a binding to nothing, an unknown step input, or a cycle."""
    steps: dict[str, Mapping[str, Any]] = component["jobs"]
    inputs = set(component.get("inputs") or {})
    outputs = set(component.get("outputs") or {})
    after: dict[str, set[str]] = {name: set() for name in steps}
    for name, step in steps.items():
        declared = step["component"]
        known_inputs = declared.get("inputs") or {}
        for input_name, value in (step.get("inputs") or {}).items():
            field = f"{where}: $.jobs.{name}.inputs.{input_name}"
            _check_declared(field, declared, "input", input_name)
            binding = parse_binding(value)
            if binding is None:
                continue
            kind, target, output = binding
            if kind == "input" and target not in inputs:
                raise ValidationError(f"{field}: {value} names no input {target!r} of the "
                                      f"pipeline (inputs: {_names(inputs)})")
            if kind == "step":
                if target not in steps:
                    raise ValidationError(f"{field}: {value} names no step {target!r} (steps: "
                                          f"{_names(steps)})")
                step_outputs = steps[target]["component"].get("outputs") or {}
                if output not in step_outputs:
                    raise ValidationError(f"{field}: {value}: step {target!r} has no output "
                                          f"{output!r} (outputs: {_names(step_outputs)})")
                after[name].add(target)
            if kind == "pipeline_output":
                raise ValidationError(f"{field}: {value}: a step input cannot read a pipeline "
                                      "output; bind it to the step's output instead")
        for input_name, spec in known_inputs.items():
            given = (step.get("inputs") or {}).get(input_name)
            if given is None and not spec.get("optional") and "default" not in spec:
                raise ValidationError(f"{where}: $.jobs.{name}.inputs: the required input "
                                      f"{input_name!r} of component {declared.get('name')!r} is "
                                      "not bound; bind it to a pipeline input or a step output")
        for output_name, value in (step.get("outputs") or {}).items():
            field = f"{where}: $.jobs.{name}.outputs.{output_name}"
            _check_declared(field, declared, "output", output_name)
            binding = parse_binding(value)
            if binding and (binding[0] != "pipeline_output" or binding[1] not in outputs):
                raise ValidationError(f"{field}: {value} must name an output of the pipeline "
                                      f"(outputs: {_names(outputs)})")
    return _ordered(after, where)


def _check_declared(field: str, component: Mapping[str, Any], kind: str, name: str) -> None:
    """A step binds only the inputs and outputs its component declares."""
    known = component.get(f"{kind}s") or {}
    if name not in known:
        raise ValidationError(f"{field}: component {component.get('name')!r} has no {kind} "
                              f"{name!r} ({kind}s: {_names(known)})")


def _ordered(after: dict[str, set[str]], where: str) -> list[str]:
    order: list[str] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name):], name]
            raise ValidationError(f"{where}: $.jobs: the steps {' -> '.join(cycle)} form a "
                                  "cycle; a step can only use outputs of steps that do not use "
                                  "its own")
        visiting.append(name)
        for before in sorted(after[name]):
            visit(before)
        visiting.pop()
        done.add(name)
        order.append(name)

    for name in after:
        visit(name)
    return order


def parse_binding(value: Any) -> tuple[str, str, str | None] | None:
    """``${{parent.inputs.x}}`` → ("input", "x", None); ``${{parent.jobs.s.outputs.y}}`` →
    ("step", "s", "y"); ``${{parent.outputs.z}}`` → ("pipeline_output", "z", None); a
    literal or a data input → None."""
    if isinstance(value, Mapping):
        value = value.get("path") if isinstance(value.get("path"), str) else None
    if not isinstance(value, str):
        return None
    match = BINDING.match(value.strip())
    if match is None:
        if "${{" in value:
            raise ValidationError(f"{value!r}: expected ${{{{parent.inputs.NAME}}}}, "
                                  "${{parent.jobs.STEP.outputs.NAME}} or "
                                  "${{parent.outputs.NAME}}")
        return None
    if match["input"]:
        return "input", match["input"], None
    if match["step"]:
        return "step", match["step"], match["output"]
    return "pipeline_output", match["pipeline_output"], None


def resolve_inputs(declared: Mapping[str, Any], given: Mapping[str, Any],
                   where: str) -> dict[str, Any]:
    """The inputs a pipeline (or a component) runs with: each given one checked against its
    declaration, defaults filled in, required ones present. Literals become plain values;
    data inputs stay ``{type, path}`` mappings."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValidationError(f"{where}: no input named {unknown[0]!r} (inputs: "
                              f"{_names(declared)})")
    resolved: dict[str, Any] = {}
    for name, spec in declared.items():
        kind = spec["type"]
        value = given.get(name)
        if isinstance(value, Mapping) and kind not in DATA_TYPES:
            value = value.get("value", value.get("default"))
        if value is None:
            if "default" in spec:
                value = spec["default"]
            elif spec.get("optional"):
                resolved[name] = None
                continue
            else:
                how = (f"--set inputs.{name}.path=PATH" if kind in DATA_TYPES
                       else f"--set inputs.{name}.value=VALUE")
                raise ValidationError(f"{where}: the required input {name!r} ({kind}) is not "
                                      f"given; give it in the inputs file or with {how}")
        resolved[name] = _typed(name, kind, value, where)
    return resolved


def _typed(name: str, kind: str, value: Any, where: str) -> Any:
    if kind in DATA_TYPES:
        if isinstance(value, Mapping):
            if not isinstance(value.get("path"), str):
                raise ValidationError(f"{where}: input {name!r} ({kind}) needs a path")
            return {"type": value.get("type") or kind, "path": value["path"]}
        if isinstance(value, str):
            return {"type": kind, "path": value}
        raise ValidationError(f"{where}: input {name!r} is a {kind}: give a path, not "
                              f"{value!r}")
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # --set inputs.x.value=7 is the string "7" for a string input
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind in ("integer", "number") and isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a number: refused just below
            value = int(value) if kind == "integer" else float(value)
    expected = LITERAL_TYPES[kind]
    if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
        raise ValidationError(f"{where}: input {name!r} must be {_article(kind)}, not "
                              f"{value!r}")
    return value


def render_value(template: str, inputs: Mapping[str, Any], outputs: Mapping[str, str]) -> str:
    """A field such as a parallel component's ``input_data`` with its placeholders replaced,
    unquoted (it is a path, not a shell command)."""
    def replace(match: re.Match) -> str:
        values = inputs if match[1] == "inputs" else outputs
        value = values.get(match[2])
        return str(value["path"] if isinstance(value, Mapping) else value)

    return PLACEHOLDER.sub(replace, template)


def render_command(command: str, inputs: Mapping[str, Any], outputs: Mapping[str, str]) -> str:
    """The command with ``${{inputs.x}}``/``${{outputs.y}}`` replaced by values and paths
    (quoted for the shell where needed); a ``$[[ … ]]`` part stays only when every input it
    names is given."""

    def value_of(kind: str, name: str) -> Any:
        values = inputs if kind == "inputs" else outputs
        value = values.get(name)
        return value["path"] if isinstance(value, Mapping) else value

    def optional(match: re.Match) -> str:
        part = match[1]
        given = all(value_of(kind, name) is not None for kind, name in PLACEHOLDER.findall(part))
        return part if given else ""

    def replace(match: re.Match) -> str:
        value = value_of(match[1], match[2])
        if value is None:
            return ""
        return shlex.quote(str(value))

    return PLACEHOLDER.sub(replace, OPTIONAL_PART.sub(optional, command))


def walk_references(component: Mapping[str, Any],
                    resolve: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """The component with every step's ``azureml:`` component reference replaced by the
    registered component ``resolve`` returns (recursively)."""
    data = copy.deepcopy(dict(component))
    for step in (data.get("jobs") or {}).values():
        if is_reference(step.get("component")):
            step["component"] = copy.deepcopy(dict(resolve(step["component"])))
        if isinstance(step.get("component"), Mapping) and step["component"].get("jobs"):
            step["component"] = walk_references(step["component"], resolve)
    return data


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "none"


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _at(document: schemas.Document | None, path: tuple, message: str) -> str:
    if document is None:
        return f"$.{'.'.join(map(str, path))}: {message}"
    line = document.line_of(list(path))
    location = f"{document.source}:{line}" if line else document.source
    return f"{location}: $.{'.'.join(map(str, path))}: {message}"
