"""The seed article's walkthrough, run as a shell script through an `az` shim on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "examples"


@pytest.fixture
def az_on_path(tmp_path) -> dict[str, str]:
    """An environment whose PATH has an `az` that is batch-emulator (a two-line script)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "az"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m emulator "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "BATCH_EMULATOR_HOME": str(tmp_path / "home")}


@pytest.mark.slow
def test_the_seed_walkthrough_runs_locally(az_on_path, tmp_path):
    fixtures = tmp_path / "repo"
    shutil.copytree(FIXTURES, fixtures)  # the walkthrough creates files next to its YAMLs
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(["bash", str(HERE / "seed_walkthrough.sh")],
                            env={**az_on_path, "FIXTURES": str(fixtures), "WORK": str(work)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "walkthrough passed" in result.stdout
