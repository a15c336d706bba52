"""Rendering, in one place for every command: ``-o json|jsonc|yaml|table|tsv|none`` and
``--query`` (JMESPath), as ``az`` does (``--query name -o tsv`` prints the bare value)."""

from __future__ import annotations

import json
from typing import Any

import click

from emulator.exceptions import ValidationError

FORMATS = ("json", "jsonc", "yaml", "yamlc", "table", "tsv", "none")


def render(data: Any, output: str, query: str | None) -> None:
    if query:
        import jmespath  # only with --query: every command's start stays short

        try:
            data = jmespath.search(query, data)
        except jmespath.exceptions.JMESPathError as exc:
            raise ValidationError(f"--query {query!r} is not valid JMESPath: {exc}") from None
    if output == "none" or data is None:
        return
    if output in ("json", "jsonc"):
        click.echo(json.dumps(data, indent=2, default=str))
    elif output in ("yaml", "yamlc"):
        import yaml  # only for -o yaml: every command's start stays short

        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    elif output == "tsv":
        for line in _tsv_lines(data):
            click.echo(line)
    else:
        click.echo(_table(data))


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)  # az prints True/False in tsv
    return str(value)


def _tsv_lines(data: Any) -> list[str]:
    """As az (knack) writes tsv, so columns never shift: a row per item of a list (a result
    that is not a list is one row); a mapping's values in the order of its sorted keys, a
    nested mapping as an empty cell and a nested list as its length."""
    rows = data if isinstance(data, list) else [data]
    return [_tsv_row(row) for row in rows]


def _tsv_row(row: Any) -> str:
    if isinstance(row, dict):
        cells = [value for _, value in sorted(row.items())]
    elif isinstance(row, list):
        cells = row
    else:
        return _tsv_cell(row)
    return "\t".join(_tsv_cell(cell) for cell in cells)


def _tsv_cell(value: Any) -> str:
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return ""
    return _scalar(value)


def _table(data: Any) -> str:
    rows = data if isinstance(data, list) else [data]
    if not rows:
        return ""
    if not all(isinstance(r, dict) for r in rows):
        rows = [{"Result": r} for r in rows]
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in columns and key != "id" and not isinstance(value, (dict, list)):
                columns.append(key)
    header = [_title(c) for c in columns]
    cells = [[_scalar(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _title(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))
