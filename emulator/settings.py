"""Every environment variable the emulator reads, in one place, with its meaning.

``BATCH_EMULATOR_HOME``
    The home: workspaces, jobs, keys, environments (default ``~/.batch-emulator``).
``BATCH_EMULATOR_MAX_RUNNING_JOBS``
    Jobs of one home that run at once (default: the number of CPUs, at least 2).
``BATCH_EMULATOR_MAX_LOCAL_INSTANCES``
    Workers of a job's own local cluster at most (default: twice the CPUs, at least 4); a
    larger ``instance_count`` is capped, with a notice.
``BATCH_EMULATOR_INIT_TIMEOUT``
    Seconds a scoring process's ``init()`` may take (default Azure's: 3 x the deployment's
    ``retry_settings.timeout`` + 30); past it the process is killed and replaced.
``BATCH_EMULATOR_ENVIRONMENT_MODE``
    ``current`` or ``isolated``; overrides ``configure --defaults environment_mode=``.
``BATCH_EMULATOR_REQUIREMENTS_OVERRIDES``
    A pip requirements file that pins or replaces requirements (isolated environments).
``BATCH_EMULATOR_AZURITE``
    The ``azurite-blob`` executable; without it, ``azurite-blob`` on ``PATH``, else
    ``tools/azurite/node_modules/.bin/azurite-blob`` of the checkout (an editable install) or
    of the current directory.
``AZURE_DEFAULTS_GROUP``, ``AZURE_DEFAULTS_WORKSPACE``, ``AZURE_DEFAULTS_LOCATION``
    As for ``az``: a default that wins over ``configure --defaults`` (but not over ``-g``/``-w``).
``USER``
    Recorded as the creator of jobs and assets, and in tokens.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "BATCH_EMULATOR_HOME"
DEFAULT_USER = "local-user"


def home() -> Path:
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".batch-emulator")


def max_running_jobs() -> int:
    configured = os.environ.get("BATCH_EMULATOR_MAX_RUNNING_JOBS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(2, os.cpu_count() or 2)


def max_local_instances() -> int:
    configured = os.environ.get("BATCH_EMULATOR_MAX_LOCAL_INSTANCES", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(4, 2 * (os.cpu_count() or 2))


def init_timeout() -> float | None:
    configured = os.environ.get("BATCH_EMULATOR_INIT_TIMEOUT", "")
    try:
        return float(configured) if float(configured) > 0 else None
    except ValueError:
        return None


def environment_mode() -> str | None:
    return os.environ.get("BATCH_EMULATOR_ENVIRONMENT_MODE") or None


def requirements_overrides() -> str | None:
    return os.environ.get("BATCH_EMULATOR_REQUIREMENTS_OVERRIDES") or None


def azurite_executable() -> str | None:
    return os.environ.get("BATCH_EMULATOR_AZURITE") or None


def user() -> str:
    return os.environ.get("USER") or DEFAULT_USER


AZURE_DEFAULTS_PREFIX = "AZURE_DEFAULTS_"


def azure_defaults() -> dict[str, str]:
    """``AZURE_DEFAULTS_<NAME>`` as {name: value}, e.g. ``{"group": "rg"}``, as az reads them."""
    return {key.removeprefix(AZURE_DEFAULTS_PREFIX).lower(): value
            for key, value in os.environ.items()
            if key.startswith(AZURE_DEFAULTS_PREFIX) and value}
