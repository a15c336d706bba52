"""Helpers importable by tests (the root conftest's functions, re-exported)."""

import os
from pathlib import Path

from conftest import MODEL, SCORING, pid_alive, trace_lines, wait_for

__all__ = ["MODEL", "SCORING", "pid_alive", "require_azurite", "trace_lines", "wait_for"]
REPO_AZURITE = Path(__file__).resolve().parents[1] / "tools/azurite/node_modules/.bin/azurite-blob"


def require_azurite() -> None:
    """Skip without Azurite, except in CI, which must have it (the README's test command
    installs it into tools/azurite with npm ci)."""
    import pytest

    from emulator.workspace import azurite

    if REPO_AZURITE.exists():
        os.environ.setdefault("BATCH_EMULATOR_AZURITE", str(REPO_AZURITE))
    if azurite.find_executable() is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide Azurite: {azurite.INSTALL_HINT}")
        pytest.skip(f"Azurite is not installed ({azurite.INSTALL_HINT})")


def run_cli(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    """Run ``batch-emulator ARGS`` in this process: (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from emulator.cli.main import main

    with CliRunner().isolation(env=env) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue().decode(), err.getvalue().decode()
