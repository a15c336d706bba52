"""The home as a careful operator of a shared machine expects it: private, honest about a
damaged store, quiet on the network unless told otherwise."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.engine.cluster import ClusterSpec, job_instances
from emulator.exceptions import ValidationError
from emulator.model.validation import check_job_name
from tests.helpers import run_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_home_and_its_store_are_the_owners_only(tmp_path):
    home = tmp_path / "home"
    env = {"BATCH_EMULATOR_HOME": str(home)}
    code, _, err = run_cli("ml", "datastore", "create", "-n", "bucket", "--set", "type=s3",
                           "bucket=b", "credentials.access_key_id=AKIA-ID",
                           "credentials.secret_access_key=the-secret", env=env)
    assert code == 0, err
    assert mode(home) == mode(home / "default") == 0o700
    assert mode(home / "default" / "workspace.db") == 0o600
    for command in (["ml", "datastore", "show", "-n", "bucket"], ["ml", "datastore", "list"]):
        code, out, _ = run_cli(*command, env=env)
        assert code == 0 and "the-secret" not in out and "AKIA-ID" not in out
    shown = json.loads(run_cli("ml", "datastore", "show", "-n", "bucket", env=env)[1])
    assert shown["credentials"] == {"kinds": ["access_key_id", "secret_access_key"]}


@pytest.mark.parametrize("damage", [b"\x00garbage" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
                         ids=["random-bytes", "broken-header"])
def test_a_damaged_store_is_one_line_naming_the_file(damage, tmp_path):
    home = tmp_path / "home"
    env = {"BATCH_EMULATOR_HOME": str(home)}
    assert run_cli("ml", "batch-endpoint", "create", "-n", "ep-one", env=env)[0] == 0
    store = home / "default" / "workspace.db"
    for leftover in store.parent.glob("workspace.db-*"):
        leftover.unlink()
    store.write_bytes(damage)
    code, out, err = run_cli("ml", "batch-endpoint", "list", env=env)
    assert code == 10 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{store}: the workspace store cannot be used" in err and "move the file away" in err


def test_a_store_of_a_newer_emulator_is_refused(tmp_path):
    import sqlite3

    home = tmp_path / "home"
    env = {"BATCH_EMULATOR_HOME": str(home)}
    assert run_cli("ml", "batch-endpoint", "list", env=env)[0] == 0
    with sqlite3.connect(home / "default" / "workspace.db") as connection:
        connection.execute("PRAGMA user_version=99")
    code, _, err = run_cli("ml", "batch-endpoint", "list", env=env)
    assert code == 10 and "written by a newer batch-emulator" in err


def test_serving_beyond_loopback_needs_to_be_asked_for(tmp_path):
    env = {"BATCH_EMULATOR_HOME": str(tmp_path / "home")}
    code, _, err = run_cli("serve", "--host", "0.0.0.0", "--port", "0", env=env)
    assert code == 9 and "--allow-remote" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "server.json").exists()


def test_a_jobs_own_cluster_shows_its_dashboard_on_loopback_only():
    pytest.importorskip("bokeh", reason="Dask serves a dashboard only with bokeh installed")
    with job_instances(ClusterSpec(), 1, 1, []) as instances:
        link = instances.client.dashboard_link
    assert link.startswith("http://127.0.0.1:"), link


@given(st.text(max_size=300))
def test_a_job_name_is_either_safe_or_refused_in_one_line(name):
    try:
        check_job_name(name)
    except ValidationError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300 and "job name" in str(exc)
    else:
        assert "/" not in name and name not in (".", "..") and os.sep not in name
        assert 1 <= len(name) <= 255
