"""Deployment YAML: both layouts, schema defaults, validation messages, --set."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from emulator.exceptions import NotSupportedError, ScoringScriptError, ValidationError
from emulator.model import schemas
from emulator.model.loader import load_deployment
from emulator.model.specs import BatchDeploymentSettings, validate_invoke_overrides

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "deployments"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployment.yml"
    path.write_text(text)
    return path


def test_current_and_flat_layouts_normalise_to_the_same_deployment():
    current = load_deployment(FIXTURES / "current.yml")
    flat = load_deployment(FIXTURES / "flat.yml")
    assert current.settings == flat.settings
    assert current.model.path == flat.model.path
    assert current.code_configuration == flat.code_configuration
    assert current.instance_count == flat.instance_count == 1
    assert current.settings.max_concurrency_per_instance == 2
    assert current.settings.retry_settings.max_retries == 2


def test_defaults_are_azures_and_come_from_the_schema():
    deployment = load_deployment(FIXTURES / "minimal.yml")
    settings = deployment.settings
    assert (settings.mini_batch_size, settings.max_concurrency_per_instance) == (10, 1)
    assert (settings.retry_settings.max_retries, settings.retry_settings.timeout) == (3, 30)
    assert (settings.error_threshold, settings.output_action) == (-1, "append_row")
    assert (settings.output_file_name, settings.logging_level) == ("predictions.csv", "info")
    assert deployment.instance_count == 1


def test_code_and_schema_do_not_drift():
    """Every settings field is declared, with a default, in the schema, and nowhere else."""
    schema = schemas.load_schema("batch_deployment")
    declared = schema["$defs"]["settings_properties"]["properties"]
    fields = {f.name for f in dataclasses.fields(BatchDeploymentSettings)}
    assert fields == {name for name, prop in declared.items() if "default" in prop}
    defaults = schemas.defaults("batch_deployment", "settings_properties")
    built = BatchDeploymentSettings.from_mapping({})
    assert built.mini_batch_size == defaults["mini_batch_size"]
    assert dataclasses.asdict(built.retry_settings) == defaults["retry_settings"]
    # the invoke overrides schema only names settings the deployment schema knows
    overrides = schemas.load_schema("invoke_overrides")["properties"]
    assert set(overrides) - {"instance_count"} <= set(declared)
    source = (Path(schemas.__file__).parent / "specs.py").read_text()
    assert "predictions.csv" not in source and "= 30" not in source


def test_numbers_as_strings_are_accepted(tmp_path):
    path = write(tmp_path, "name: dep-one\ntype: model\nmodel: azureml:m:1\nsettings:\n"
                           "  mini_batch_size: '5'\n  error_threshold: '-1'\n"
                           "  retry_settings: {timeout: '7'}\n")
    settings = load_deployment(path).settings
    assert (settings.mini_batch_size, settings.retry_settings.timeout) == (5, 7)
    assert settings.error_threshold == -1


def test_settings_at_the_root_with_type_model_are_refused_with_file_line_and_hint(tmp_path):
    path = write(tmp_path, "name: dep-one\ntype: model\nmodel: azureml:m:1\nmini_batch_size: 5\n")
    with pytest.raises(ValidationError) as caught:
        load_deployment(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "unknown key(s) 'mini_batch_size'" in message
    assert "belong under 'settings:'" in message


def test_every_error_is_reported_with_its_line_and_json_path(tmp_path):
    path = write(tmp_path, "name: x\ntype: model\nmodel: azureml:m:1\nsettings:\n"
                           "  mini_batch_size: 0\n  output_action: merge\n  colour: red\n")
    with pytest.raises(ValidationError) as caught:
        load_deployment(path)
    errors = caught.value.errors
    assert any(e.startswith(f"{path}:1: $.name: 'x' is not valid: 3-32 characters") for e in errors)
    assert any(e.startswith(f"{path}:5: $.settings.mini_batch_size:") for e in errors)
    assert any(e.startswith(f"{path}:6: $.settings.output_action: 'merge' is not one of")
               for e in errors)
    assert any(e.startswith(f"{path}:7: $.settings: unknown key(s) 'colour'") for e in errors)


def test_summary_only_with_output_file_name_is_refused_as_azure_does(tmp_path):
    path = write(tmp_path, "name: dep-one\ntype: model\nmodel: azureml:m:1\nsettings:\n"
                           "  output_action: summary_only\n  output_file_name: out.csv\n")
    with pytest.raises(ValidationError, match=r":6: \$\.settings\.output_file_name: When "
                                              "output_action is set to summary_only"):
        load_deployment(path)


def test_pipeline_deployments_are_refused(tmp_path):
    path = write(tmp_path, "name: dep-one\ntype: pipeline\ncomponent: azureml:c:1\n")
    with pytest.raises(NotSupportedError, match="a type: pipeline deployment is not a model deployment"):
        load_deployment(path)


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: dep-one\nsettings: [unclosed\n")
    with pytest.raises(ValidationError, match=rf"{path}:\d+: not valid YAML"):
        load_deployment(path)


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(ValidationError, match="file not found"):
        load_deployment(tmp_path / "nope.yml")


def test_set_values_are_applied_before_validation():
    deployment = load_deployment(FIXTURES / "current.yml", set_values=[
        "settings.mini_batch_size=7", "settings.environment_variables.MODE=fast",
        "resources.instance_count=3"])
    assert deployment.settings.mini_batch_size == 7
    assert deployment.settings.environment_variables == {"MODE": "fast"}
    assert deployment.instance_count == 3
    with pytest.raises(ValidationError, match="mini_batch_size"):
        load_deployment(FIXTURES / "current.yml", set_values=["settings.mini_batch_size=-1"])
    with pytest.raises(ValidationError, match="expected PATH=VALUE"):
        load_deployment(FIXTURES / "current.yml", set_values=["settings.mini_batch_size"])


def test_scoring_script_checks(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text("def run(mini_batch):\n    return mini_batch\n")
    base = "name: dep-one\ntype: model\nmodel: azureml:m:1\ncode_configuration:\n  code: code\n"
    with pytest.raises(ScoringScriptError, match="score2.py not found in"):
        load_deployment(write(tmp_path, base + "  scoring_script: score2.py\n"))
    (code / "bad.py").write_text("def run(:\n")
    with pytest.raises(ScoringScriptError, match="--skip-script-validation"):
        load_deployment(write(tmp_path, base + "  scoring_script: bad.py\n"))
    skipped = load_deployment(write(tmp_path, base + "  scoring_script: bad.py\n"),
                              skip_script_validation=True)
    assert skipped.code_configuration.script_path == code / "bad.py"


def test_invoke_overrides_are_validated_and_nested():
    assert validate_invoke_overrides({"retry_settings.timeout": 5, "mini_batch_size": "3"}) == {
        "retry_settings": {"timeout": 5}, "mini_batch_size": "3"}
    with pytest.raises(ValidationError, match="unknown key"):
        validate_invoke_overrides({"max_concurrency_per_instance": 4})


def test_schemas_are_valid_draft_2020_12():
    import jsonschema

    for path in schemas.schemas_dir().glob("*.schema.json"):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
