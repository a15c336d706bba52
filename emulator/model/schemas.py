"""The JSON Schemas in ``schemas/``: loading, validation with file:line:path errors, defaults.

The schemas are the single source of truth for keys, types, enums and defaults; code asks
this module for a default instead of writing the value down a second time.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.exceptions import ValidationError

if TYPE_CHECKING:  # imported where a document is validated: reads never pay for jsonschema
    import jsonschema
    from referencing import Registry


def schemas_dir() -> Path:
    """The folder of ``*.schema.json``: inside the wheel, else the source checkout's."""
    packaged = Path(__file__).parents[1] / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def _registry() -> Registry:
    from referencing import Registry, Resource  # see the TYPE_CHECKING import

    resources = []
    for path in sorted(schemas_dir().glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents)
        resources.append((path.name, resource))
        resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


@functools.cache
def load_schema(kind: str) -> dict[str, Any]:
    """The schema ``schemas/<kind>.schema.json`` as a dict."""
    path = schemas_dir() / f"{kind}.schema.json"
    if not path.is_file():
        raise ValidationError(f"no schema named {kind!r} in {schemas_dir()}")
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    import jsonschema  # see the TYPE_CHECKING import

    schema = load_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=_registry())


def defaults(kind: str, definition: str) -> dict[str, Any]:
    """Defaults declared under ``$defs/<definition>`` of a schema, nested objects included."""
    schema = load_schema(kind)
    return _collect_defaults(schema["$defs"][definition], schema)


def _collect_defaults(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, prop in node.get("properties", {}).items():
        target = _resolve_local(prop, root)
        if "properties" in target:
            nested = _collect_defaults(target, root)
            if nested or "default" in prop:
                found[name] = {**prop.get("default", {}), **nested}
        elif "default" in prop:
            found[name] = prop["default"]
    return found


def fill_defaults(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with the schema's defaults for every absent key filled in.

    Follows the branch of ``if``/``then``/``else`` that ``data`` takes (per-type keys of a
    compute or datastore) and the nested objects ``data`` has; keys already given stay as
    given, strings included.
    """
    schema = load_schema(kind)
    return _fill(schema, copy.deepcopy(data), schema, _validator(kind))


def _fill(node: Any, data: dict[str, Any], root: dict[str, Any],
          validator: jsonschema.protocols.Validator) -> dict[str, Any]:
    if not isinstance(node, dict):
        return data
    node = _resolve_local(node, root)
    for name, prop in node.get("properties", {}).items():
        target = _resolve_local(prop, root)
        if name not in data and "default" in target:
            data[name] = copy.deepcopy(target["default"])
        elif isinstance(data.get(name), dict) and "properties" in target:
            data[name] = _fill(target, data[name], root, validator)
    if "if" in node:
        taken = "then" if validator.evolve(schema=node["if"]).is_valid(data) else "else"
        data = _fill(node.get(taken), data, root, validator)
    for sub in node.get("allOf", ()):
        data = _fill(sub, data, root, validator)
    return data


def _resolve_local(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    if ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


# --------------------------------------------------------------------------------------
# YAML with line numbers


@dataclass(frozen=True)
class Document:
    """A parsed YAML/JSON document that remembers the line of every JSON path."""

    data: Any
    source: str
    lines: dict[tuple[str | int, ...], int]

    def line_of(self, path: Iterable[str | int]) -> int | None:
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)


def load_document(path: str | Path) -> Document:
    """Parse a YAML file, keeping line numbers; a clear error when unreadable or malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{path}: file not found; check the path given to --file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read the file ({exc})") from None
    return parse_document(text, str(path))


MAX_DOCUMENT_BYTES = 1024 * 1024  # a deployment is a few hundred bytes; this is generous
MAX_NODES = 100_000  # values after alias expansion: a "billion laughs" stops here
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_MESSAGE = 400  # characters of one error line


def parse_document(text: str, source: str) -> Document:
    """A YAML document with the line of every key; bounded in size, nesting and alias
    expansion, so a hostile document is a clear error within a second."""
    import yaml  # where a document is read: a read of the service never pays for it

    if len(text.encode("utf-8", "surrogateescape")) > MAX_DOCUMENT_BYTES:
        raise ValidationError(f"{source}: the document is larger than {MAX_DOCUMENT_BYTES} "
                              "bytes; a deployment or resource YAML is far smaller")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = (getattr(exc, "problem", None) or str(exc)).strip().splitlines()[0]
        raise ValidationError(f"{source}{line}: not valid YAML: {problem[:200]}") from None
    except RecursionError:
        raise ValidationError(f"{source}: not valid YAML: nested too deeply (at most "
                              f"{MAX_DEPTH} levels)") from None
    lines: dict[tuple[str | int, ...], int] = {}
    budget = [MAX_NODES]
    data = _construct(node, (), lines, source, budget) if node is not None else {}
    return Document(data=data, source=source, lines=lines)


def parse_value(text: str, source: str) -> Any:
    """One ``--set`` value, parsed as YAML as ``az`` does, with a document's bounds."""
    return parse_document(text, source).data if text.strip() else ""


def _construct(node: Any, path: tuple, lines: dict, source: str, budget: list[int]) -> Any:
    import yaml  # see parse_document

    line = node.start_mark.line + 1
    budget[0] -= 1
    if budget[0] < 0:
        raise ValidationError(f"{source}:{line}: the document expands to more than {MAX_NODES} "
                              "values (aliases repeating aliases?); write the values out")
    if len(path) > MAX_DEPTH:
        raise ValidationError(f"{source}:{line}: nested more than {MAX_DEPTH} levels deep")
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ValidationError(f"{source}:{key_node.start_mark.line + 1}: a key must be a "
                                      "plain name, not a list or a mapping")
            key = key_node.value
            if key in result:  # YAML forbids it; PyYAML would keep the last one silently
                first, again = lines[(*path, key)], key_node.start_mark.line + 1
                raise ValidationError(f"{source}:{again}: {_json_path((*path, key))}: the key "
                                      f"{key!r} appears twice (lines {first} and {again}); "
                                      "keep one")
            result[key] = _construct(value_node, (*path, key), lines, source, budget)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, source, budget)
                for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # 5000-digit numbers, bad dates
        shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
        raise ValidationError(f"{source}:{line}: {_json_path(path)}: {shown!r} cannot be read as a "
                              f"YAML value ({str(exc).splitlines()[0][:120]})") from None
    finally:
        loader.dispose()


def _json_path(path: Iterable[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


# --------------------------------------------------------------------------------------
# validation


def validation_errors(kind: str, document: Document) -> list[str]:
    """Every error of ``document`` against schema ``kind``, as ``file:line: path: message``."""
    validator = _validator(kind)
    errors = sorted(validator.iter_errors(document.data), key=lambda e: list(e.absolute_path))
    return _nul_errors(document) + [_format(document, error, kind)
                                    for error in _leaf_errors(errors)]


def validate(kind: str, document: Document) -> None:
    """Raise ``ValidationError`` with the best error first and all errors attached."""
    nul = _nul_errors(document)
    if nul:
        raise ValidationError(nul[0], tuple(nul))
    validator = _validator(kind)
    all_errors = list(validator.iter_errors(document.data))
    if not all_errors:
        return
    from jsonschema.exceptions import best_match  # loaded by _validator already

    best = best_match(all_errors)
    formatted = [_format(document, e, kind) for e in _leaf_errors(all_errors)]
    raise ValidationError(_format(document, _leaf(best), kind), tuple(formatted))


def _nul_errors(document: Document, value: Any = None, path: tuple = ()) -> list[str]:
    """A NUL character is in no name or path Azure takes, and no file system takes it."""
    value = document.data if not path and value is None else value
    if isinstance(value, str) and "\x00" in value:
        line = document.line_of(list(path))
        location = f"{document.source}:{line}" if line else document.source
        return [f"{location}: {_json_path(path)}: contains a NUL character; remove it"]
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    errors = []
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            errors += _nul_errors(document, key, path)
        errors += _nul_errors(document, item, (*path, key))
    return errors


def _leaf(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The most specific error beneath an anyOf/oneOf wrapper.

    Descends as ``best_match`` does: into the branch whose type the instance has, so that
    ``0`` against "an integer >= 1 or a string of digits" reports the minimum, not the type.
    """
    from jsonschema.exceptions import relevance  # loaded by _validator already

    while error.context and not _missing_one_of(error) and not _no_branch_type(error):
        error = min(error.context, key=relevance)
    return error


def _no_branch_type(error: jsonschema.ValidationError) -> bool:
    """An anyOf/oneOf with a description, none of whose branches has the instance's type."""
    return (isinstance(error.schema, dict) and "description" in error.schema
            and bool(error.context)
            and all(e.validator == "type" and not e.relative_path for e in error.context))


def _missing_one_of(error: jsonschema.ValidationError) -> list[str]:
    """The keys of an anyOf/oneOf whose every branch only asks for one key, none present."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return []
    if any(e.validator != "required" or e.relative_path for e in error.context):
        return []
    return [e.validator_value[0] for e in error.context if len(e.validator_value) == 1]


def _leaf_errors(errors: Iterable[jsonschema.ValidationError]) -> list:
    return [_leaf(e) for e in errors]


def _format(document: Document, error: jsonschema.ValidationError, kind: str) -> str:
    text = _format_unbounded(document, error, kind)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def _format_unbounded(document: Document, error: jsonschema.ValidationError, kind: str) -> str:
    path = list(error.absolute_path)
    line = document.line_of(path)
    known: set[str] = set()
    if error.validator in ("unevaluatedProperties", "additionalProperties"):
        known = _known_keys(error.schema, kind, error.instance)
        # point at the first unknown key itself, not at the mapping that holds it
        keys = _unexpected_keys(error, known)
        if keys and document.lines.get((*path, keys[0])):
            line = document.lines[(*path, keys[0])]
    location = f"{document.source}:{line}" if line else document.source
    return f"{location}: {_json_path(path)}: {_message(error, known)}"


def _message(error: jsonschema.ValidationError, known: set[str]) -> str:
    if error.validator == "unevaluatedProperties" or error.validator == "additionalProperties":
        extra = _unexpected_keys(error, known)
        if extra:
            return (f"unknown key(s) {', '.join(map(repr, extra))}"
                    f"{_did_you_mean(extra, known)}; {_hint(extra, error)}")
    keys = _missing_one_of(error)
    if keys:
        return f"one of the keys {' or '.join(map(repr, keys))} is required"
    if _no_branch_type(error):
        return f"{error.instance!r} is not valid: {error.schema['description']}"
    if error.validator == "pattern" and "description" in error.schema:
        return f"{error.instance!r} is not valid: {error.schema['description']}"
    if error.validator == "false":
        return "not allowed here"
    return error.message


_SETTINGS_KEYS = frozenset(load_schema("batch_deployment")["$defs"]["settings_properties"]["properties"])


def _unexpected_keys(error: jsonschema.ValidationError, known: set[str]) -> list[str]:
    """The keys of the mapping that its schema does not declare, in the document's order."""
    if not isinstance(error.instance, dict):
        return []
    return [key for key in error.instance if key not in known]


def _known_keys(node: Any, kind: str, instance: Any) -> set[str]:
    """Every key the schema ``node`` declares for ``instance``: its ``properties``, those of
    the ``$ref``s and ``allOf``/``anyOf``/``oneOf`` branches it applies, and of the
    ``then``/``else`` that ``instance`` takes (a key declared ``false`` is not one)."""
    validator = _validator(kind)
    resolver = _registry().resolver(base_uri=load_schema(kind)["$id"])

    def keys(node: Any, resolver, depth: int) -> set[str]:
        if not isinstance(node, dict) or depth > 20:
            return set()
        found = {name for name, value in node.get("properties", {}).items() if value is not False}
        if "$ref" in node:
            resolved = resolver.lookup(node["$ref"])
            found |= keys(resolved.contents, resolved.resolver, depth + 1)
        for branch in (*node.get("allOf", ()), *node.get("anyOf", ()), *node.get("oneOf", ())):
            found |= keys(branch, resolver, depth + 1)
        if "if" in node:
            taken = "then" if validator.evolve(schema=node["if"]).is_valid(instance) else "else"
            found |= keys(node.get(taken), resolver, depth + 1)
        return found

    return keys(node, resolver, 0)


def _did_you_mean(unknown: list[str], known: set[str]) -> str:
    """`` (did you mean 'mini_batch_size'?)`` for the unknown keys close to a declared one."""
    import difflib  # only for a document with an unknown key

    guesses = [match[0] for key in unknown
               if (match := difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7))]
    if not guesses:
        return ""
    return f" (did you mean {' or '.join(map(repr, dict.fromkeys(guesses)))}?)"


def _hint(keys: list[str], error: jsonschema.ValidationError | None = None) -> str:
    in_deployment = error is None or str(error.schema.get("$id", "")).endswith(
        "/batch_deployment.schema.json")
    if in_deployment and set(keys) & _SETTINGS_KEYS:
        return "with 'type: model' these settings belong under 'settings:'; remove 'type' for the flat layout"
    return "check the spelling against the schema or remove them"
