"""Where ``serve --azure-compatible`` finds Azurite: ``BATCH_EMULATOR_AZURITE``, ``PATH``, then
``tools/azurite`` as the README's ``npm ci --prefix tools/azurite`` leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.workspace import azurite
from tests.helpers import REPO_AZURITE


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bare(tmp_path, monkeypatch) -> Path:
    """No BATCH_EMULATOR_AZURITE, nothing on PATH, in an empty folder."""
    monkeypatch.delenv("BATCH_EMULATOR_AZURITE", raising=False)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_checkout_of_the_current_directory_is_found(bare):
    installed = _executable(bare / azurite.CHECKOUT_EXECUTABLE)
    assert azurite.find_executable() == str(installed)


@pytest.mark.skipif(not REPO_AZURITE.exists(), reason="tools/azurite is not installed here")
def test_the_checkout_the_package_runs_from_is_found(bare):
    assert Path(azurite.find_executable()).resolve() == REPO_AZURITE.resolve()


def test_path_and_the_setting_come_first(bare, monkeypatch):
    _executable(bare / azurite.CHECKOUT_EXECUTABLE)
    on_path = _executable(bare / "bin" / "azurite-blob")
    assert azurite.find_executable() == str(on_path)
    configured = _executable(bare / "elsewhere" / "azurite-blob")
    monkeypatch.setenv("BATCH_EMULATOR_AZURITE", str(configured))
    assert azurite.find_executable() == str(configured)
    monkeypatch.setenv("BATCH_EMULATOR_AZURITE", str(bare / "missing"))
    assert azurite.find_executable() is None  # a setting that names nothing is not overruled
