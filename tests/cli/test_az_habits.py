"""What Azure ML users' scripts do out of habit: the preambles (login, account, extension,
workspace), az's defaults from the environment, option prefixes, generic updates, tsv, and the
job commands beyond show/list (archive, restore, update)."""

from __future__ import annotations

import json

import pytest

from emulator.cli.output import _tsv_lines
from emulator.service import BatchService
from tests.helpers import SEED, run_cli


@pytest.fixture
def az(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
    for name in ("AZURE_DEFAULTS_GROUP", "AZURE_DEFAULTS_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return run_cli


def ok(az, *args: str, env: dict | None = None) -> str:
    code, out, err = az(*args, env=env)
    assert code == 0, err
    return out


def test_a_microsoft_preamble_runs_unchanged(az):
    """The first lines of Azure ML's example scripts."""
    login = json.loads(ok(az, "login"))
    assert login[0]["state"] == "Enabled" and login[0]["isDefault"] is True
    assert ok(az, "account", "set", "--subscription", "1234-my-sub") == ""
    assert ok(az, "account", "show", "--query", "id", "-o", "tsv") == "1234-my-sub\n"
    assert json.loads(ok(az, "account", "list"))[0]["id"] == "1234-my-sub"
    assert ok(az, "extension", "add", "-n", "ml", "-y") == ""
    assert ok(az, "extension", "list", "--query", "[].name", "-o", "tsv") == "ml\n"
    code, _, err = az("extension", "add", "-n", "azure-devops")
    assert code == 0 and "WARNING: extension 'azure-devops' is not provided" in err
    ok(az, "configure", "--defaults", "group=my-rg", "workspace=main")
    ok(az, "ml", "batch-endpoint", "create", "-n", "habit-ep")
    workspace = json.loads(ok(az, "ml", "workspace", "show"))
    assert workspace["name"] == "main"
    assert workspace["id"] == ("/subscriptions/1234-my-sub/resourceGroups/my-rg/providers/"
                               "Microsoft.MachineLearningServices/workspaces/main")
    assert ok(az, "ml", "workspace", "list", "--query", "[].name", "-o", "tsv") == "main\n"
    code, _, err = az("ml", "workspace", "show", "-n", "nope")
    assert code == 3 and "workspace 'nope' does not exist" in err and "workspaces: main" in err


def test_azure_defaults_from_the_environment_win_over_configure(az, tmp_path):
    ok(az, "configure", "--defaults", "workspace=configured")
    env = {"AZURE_DEFAULTS_WORKSPACE": "from-env", "AZURE_DEFAULTS_GROUP": "env-rg"}
    ok(az, "ml", "batch-endpoint", "create", "-n", "env-ep", env=env)
    assert (tmp_path / "home" / "from-env" / "workspace.db").is_file()
    assert not (tmp_path / "home" / "configured").exists()
    endpoint = json.loads(ok(az, "ml", "batch-endpoint", "show", "-n", "env-ep", env=env))
    assert "/resourceGroups/env-rg/" in endpoint["id"]
    assert ok(az, "ml", "batch-endpoint", "show", "-n", "env-ep", "-w", "from-env",
              "--query", "name", "-o", "tsv") == "env-ep\n"  # -w wins over both
    listed = json.loads(ok(az, "configure", "-l", env=env))
    assert {"name": "workspace", "value": "from-env",
            "source": "AZURE_DEFAULTS_WORKSPACE (environment)"} in listed


def test_an_unambiguous_option_prefix_is_the_option(az):
    ok(az, "ml", "batch-endpoint", "create", "--na", "prefix-ep")
    ok(az, "ml", "compute", "create", "-n", "batch-cluster", "--type", "amlcompute")
    ok(az, "ml", "batch-deployment", "create", "--file", str(SEED / "nonmlflow-deployment.yml"),
       "--endpoint", "prefix-ep", "--set-def")  # as Microsoft's pipeline scripts write
    assert ok(az, "ml", "batch-endpoint", "show", "--name=prefix-ep", "--que",
              "defaults.deployment_name", "-o", "tsv") == "nonmlflowdp\n"
    code, _, err = az("ml", "batch-endpoint", "show", "-n", "prefix-ep", "--o", "tsv")
    assert code == 2
    assert "ambiguous option: --o could match --only-show-errors, --output" in err


def test_generic_update_set_add_remove_and_force_string(az):
    ok(az, "ml", "batch-endpoint", "create", "-n", "update-ep")
    ok(az, "ml", "batch-endpoint", "update", "-n", "update-ep", "--set", "tags.team=a",
       "--add", "tags", "stage=test", "owner=me")
    assert json.loads(ok(az, "ml", "batch-endpoint", "show", "-n", "update-ep",
                         "--query", "tags")) == {"team": "a", "stage": "test", "owner": "me"}
    ok(az, "ml", "batch-endpoint", "update", "-n", "update-ep", "--remove", "tags.owner",
       "--set", "description=007", "--force-string")
    shown = json.loads(ok(az, "ml", "batch-endpoint", "show", "-n", "update-ep"))
    assert shown["tags"] == {"team": "a", "stage": "test"}
    assert shown["description"] == "007"  # kept a string, not the number 7
    code, _, err = az("ml", "batch-endpoint", "update", "-n", "update-ep", "--remove", "nope")
    assert code == 2 and "--remove nope: there is no nope to remove" in err


def test_tsv_keeps_columns_in_place_as_az_does():
    rows = [{"name": "a", "tags": {"x": "1"}, "list": [1, 2], "none": None, "flag": True},
            {"name": "b", "tags": {}, "list": [], "none": "v", "flag": False}]
    # sorted keys: flag, list, name, none, tags; a mapping is an empty cell, a list its length
    assert _tsv_lines(rows) == ["True\t2\ta\t\t", "False\t0\tb\tv\t"]
    assert _tsv_lines("x") == ["x"]
    assert _tsv_lines(["x", "y"]) == ["x", "y"]


def test_validate_and_demo_take_output_and_query(az, tmp_path):
    good = SEED / "nonmlflow-deployment.yml"
    assert ok(az, "validate", str(good), "-o", "json", "--query", "valid") == "true\n"
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nendpoint_name: e\nmini_batch_size: many\n")
    code, out, err = az("validate", str(bad), "-o", "tsv", "--query", "valid")
    assert (code, out) == (2, "False\n") and "mini_batch_size" in err


@pytest.fixture
def jobs(tmp_path, make_deployment, make_inputs, dask_scheduler_address, monkeypatch):
    """Two finished jobs in the home (the older first)."""
    home = tmp_path / "home"
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(home))
    service = BatchService(home=home)
    names, inputs, deployment = [], make_inputs(2), make_deployment("succeed_list.py")
    for _ in range(2):
        job = service.start_job(deployment, inputs,
                                scheduler_address=dask_scheduler_address).wait(60)
        names.append(job.name)
    return names


@pytest.mark.parametrize("front", ["python", "cli"])
def test_archive_hides_a_job_restore_shows_it(jobs, tmp_path, front):
    older, newer = jobs
    service = BatchService(home=tmp_path / "home")
    if front == "python":
        assert service.archive_job(older)["is_archived"] is True
    else:
        assert run_cli("ml", "job", "archive", "-n", older) == (0, "", "")

    def listed(*flags: str) -> list[str]:
        return run_cli("ml", "job", "list", *flags, "--query", "[].name", "-o", "tsv")[1].split()

    assert listed() == [newer]
    assert listed("--include-archived") == [newer, older]
    assert listed("--archived-only") == [older]
    assert [j["name"] for j in service.list_jobs(include_archived=True)] == [newer, older]
    assert run_cli("ml", "job", "show", "-n", older, "--query", "status", "-o", "tsv")[1] == \
        "Completed\n"  # archived, not gone
    if front == "python":
        service.restore_job(older)
    else:
        assert run_cli("ml", "job", "restore", "-n", older)[0] == 0
    assert listed() == [newer, older]
    assert listed("--max-results", "1") == [newer]
    assert listed("--all-results", "-r", "1") == [newer, older]


@pytest.mark.parametrize("front", ["python", "cli"])
def test_job_update_changes_what_azure_lets_change(jobs, tmp_path, front):
    name = jobs[0]
    service = BatchService(home=tmp_path / "home")
    if front == "python":
        service.update_job(name, ["display_name=nightly", "tags.run=3"],
                           add=[("properties", "origin=test")])
    else:
        ok(run_cli, "ml", "job", "update", "-n", name, "--set", "display_name=nightly",
           "tags.run=3", "--add", "properties", "origin=test")
    shown = service.show_job(name)
    assert (shown["display_name"], shown["tags"]) == ("nightly", {"run": "3"})
    assert shown["properties"]["origin"] == "test"
    assert shown["status"] == "Completed"
    code, _, err = run_cli("ml", "job", "update", "-n", name, "--set", "status=Failed")
    assert code == 2 and "status cannot be changed" in err
    code, _, err = run_cli("ml", "job", "update", "-n", name, "--set",
                           "properties.files_total=0")
    assert code == 2 and "properties can be added, not removed or changed" in err
    assert service.show_job(name)["properties"]["files_total"] == "2"


@pytest.mark.parametrize("front", ["python", "cli"])
def test_a_batch_job_has_its_scoring_step_as_child_job(jobs, tmp_path, front):
    name = jobs[0]
    step = f"{name}-batchscoring"
    if front == "python":
        service = BatchService(home=tmp_path / "home")
        children = service.child_jobs(name)
        shown = service.show_job(step)
        service.download_job(step, str(tmp_path / "out"), "score")
    else:
        children = json.loads(ok(run_cli, "ml", "job", "list", "--parent-job-name", name))
        shown = json.loads(ok(run_cli, "ml", "job", "show", "-n", step))
        ok(run_cli, "ml", "job", "download", "-n", step, "--output-name", "score",
           "--download-path", str(tmp_path / "out"))
    assert [child["name"] for child in children] == [step]
    assert (shown["parent_job_name"], shown["status"], shown["display_name"]) == \
        (name, "Completed", "batchscoring")
    assert shown["creation_context"]["created_at"]
    rows = (tmp_path / "out" / "named-outputs" / "score" / "predictions.csv").read_text()
    assert len(rows.splitlines()) == 2
    assert run_cli("ml", "job", "list", "--parent-job-name", step)[1].strip() == "[]"
    code, _, err = run_cli("ml", "job", "show", "-n", "nope-batchscoring")
    assert code == 3 and "job 'nope-batchscoring' does not exist" in err
