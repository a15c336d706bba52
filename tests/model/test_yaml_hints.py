"""A misspelt key gets a "did you mean" from the schema's own keys; a key written twice is
refused naming both lines (PyYAML alone would keep the last one silently)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.exceptions import ValidationError
from emulator.model.loader import load_deployment
from emulator.model.validation import load_resource
from tests.helpers import run_cli

DEPLOYMENT = ("name: dep-one\nendpoint_name: ep-one\ntype: model\nmodel: azureml:m:1\n"
              "settings:\n  mini_batch_sise: 5\n  retry_settings:\n    max_retry: 2\n")
TWICE = ("name: dep-one\nendpoint_name: ep-one\ntype: model\nmodel: azureml:m:1\n"
         "settings:\n  mini_batch_size: 5\n  logging_level: info\n  mini_batch_size: 50\n")


def write(tmp_path: Path, text: str, name: str = "deployment.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def python_api(path: Path) -> str:
    with pytest.raises(ValidationError) as caught:
        load_deployment(path)
    return str(caught.value)


def cli_create(path: Path) -> str:
    code, _, err = run_cli("ml", "batch-deployment", "create", "-f", str(path),
                           env={"BATCH_EMULATOR_HOME": str(path.parent / "home")})
    assert code == 2, err
    assert err.count("\n") == 1, err  # one line
    return err


def cli_validate(path: Path) -> str:
    code, out, err = run_cli("validate", str(path))
    assert code != 0
    return out + err


SURFACES = pytest.mark.parametrize("surface", [python_api, cli_create, cli_validate],
                                   ids=["python", "cli-create", "cli-validate"])


@SURFACES
def test_a_misspelt_key_gets_the_nearest_key_of_the_schema(tmp_path, surface):
    path = write(tmp_path, DEPLOYMENT)
    message = surface(path)
    assert f"{path}:6: $.settings: unknown key(s) 'mini_batch_sise' (did you mean " \
           "'mini_batch_size'?)" in message


def test_each_level_suggests_from_its_own_keys(tmp_path):
    path = write(tmp_path, DEPLOYMENT.replace("mini_batch_sise", "mini_batch_size"))
    assert "$.settings.retry_settings: unknown key(s) 'max_retry' (did you mean " \
           "'max_retries'?)" in python_api(path)


def test_a_key_far_from_every_known_one_gets_no_guess(tmp_path):
    path = write(tmp_path, DEPLOYMENT.replace("mini_batch_sise", "colour"))
    message = python_api(path)
    assert "unknown key(s) 'colour'; check the spelling" in message
    assert "did you mean" not in message


def test_the_flat_layout_suggests_settings_at_the_root(tmp_path):
    path = write(tmp_path, "name: dep-one\nendpoint_name: ep-one\nmodel: azureml:m:1\n"
                           "mini_batch_sise: 5\n")
    assert "unknown key(s) 'mini_batch_sise' (did you mean 'mini_batch_size'?)" in \
        python_api(path)


def test_other_resources_suggest_too(tmp_path):
    path = write(tmp_path, "name: m\npath: ./model\ndescripton: mine\n", "model.yml")
    with pytest.raises(ValidationError, match=r"model.yml:3: \$: unknown key\(s\) 'descripton' "
                                              r"\(did you mean 'description'\?\)"):
        load_resource("model", path)


@SURFACES
def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path, surface):
    path = write(tmp_path, TWICE)
    message = surface(path)
    assert f"{path}:8: $.settings.mini_batch_size: the key 'mini_batch_size' appears twice " \
           "(lines 6 and 8); keep one" in message


def test_a_top_level_key_twice_is_refused_too(tmp_path):
    path = write(tmp_path, "name: dep-one\nname: dep-two\nendpoint_name: ep-one\n"
                           "type: model\nmodel: azureml:m:1\n")
    assert f"{path}:2: $.name: the key 'name' appears twice (lines 1 and 2)" in python_api(path)


def test_the_same_key_in_two_mappings_is_fine(tmp_path):
    path = write(tmp_path, "name: dep-one\nendpoint_name: ep-one\ntype: model\n"
                           "model: {name: m, path: .}\nenvironment: {name: e, image: x}\n")
    assert load_deployment(path, skip_script_validation=True).environment["name"] == "e"
