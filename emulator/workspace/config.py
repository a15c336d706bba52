"""``configure --defaults k=v``: defaults kept in ``<home>/config.json``, as az keeps its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

from emulator import settings
from emulator.exceptions import ValidationError

KNOWN = {
    "group": "resource group used when -g is not given",
    "workspace": "workspace used when -w is not given",
    "location": "recorded on new resources",
    "subscription": "subscription id in resource ids (az account set --subscription)",
    "environment_mode": "current (default) or isolated: where scoring processes run",
    "requirements_overrides": "pip requirements file that pins or replaces requirements",
}


CONFIG_FILE = "config.json"


def _path(home: Path) -> Path:
    return home / CONFIG_FILE


def read_defaults(home: Path) -> dict[str, str]:
    try:
        return json.loads(_path(home).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{_path(home)} is not valid JSON ({exc}); fix or delete it") from None


def effective_defaults(home: Path) -> dict[str, tuple[str, str]]:
    """The defaults that apply: {name: (value, where it comes from)}; ``AZURE_DEFAULTS_<NAME>``
    wins over the home's file, as it does for az."""
    values = {name: (value, str(_path(home))) for name, value in read_defaults(home).items()}
    for name, value in settings.azure_defaults().items():
        values[name] = (value, f"{settings.AZURE_DEFAULTS_PREFIX}{name.upper()} (environment)")
    return values


def write_defaults(home: Path, assignments: list[str]) -> dict[str, str]:
    """Apply ``name=value`` items (an empty value removes the default)."""
    values = read_defaults(home)
    for item in assignments:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in KNOWN:
            raise ValidationError(f"--defaults {item!r}: expected NAME=VALUE with NAME one of "
                                  f"{', '.join(sorted(KNOWN))}")
        if value:
            values[name] = value
        else:
            values.pop(name, None)
    home.mkdir(parents=True, exist_ok=True)
    temporary = _path(home).with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(values, indent=2), encoding="utf-8")
    os.replace(temporary, _path(home))
    return values
