"""Registering code and models copies them as Azure uploads them: without what the folder's
``.amlignore`` (else its ``.gitignore``) names; the copy remembers the folder it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from emulator.exceptions import ValidationError
from emulator.service import BatchService
from emulator.workspace import assets
from tests.helpers import MODEL, run_cli


def project(tmp_path: Path, ignore_files: dict[str, str]) -> Path:
    """A user's project: a scoring script, a venv, data, logs and a model folder, with the
    given ignore files at its root."""
    root = tmp_path / "project"
    for relative, text in {
        "score.py": "def run(mini_batch):\n    return mini_batch\n",
        "src/helpers.py": "X = 1\n",
        "venv/lib/site.py": "big\n",
        "data/big.csv": "a,b\n",
        "notes.log": "log\n",
        "src/debug.log": "log\n",
        "keep.log": "kept by a negation\n",
        "model/model.json": json.dumps({"weights": [1, 2]}),
        "model/checkpoints/old.bin": "old\n",
        **ignore_files,
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def deployment_yaml(root: Path) -> Path:
    path = root / "deployment.yml"
    path.write_text(yaml.safe_dump({
        "name": "dep-one", "endpoint_name": "ep-one", "type": "model",
        "model": {"path": str(MODEL)},
        "code_configuration": {"code": ".", "scoring_script": "score.py"},
    }), encoding="utf-8")
    return path


def create_deployment_python(home: Path, yaml_path: Path) -> dict:
    service = BatchService(home=home)
    service.create_endpoint(name="ep-one")
    return service.create_deployment(str(yaml_path))


def create_deployment_cli(home: Path, yaml_path: Path) -> dict:
    env = {"BATCH_EMULATOR_HOME": str(home)}
    assert run_cli("ml", "batch-endpoint", "create", "-n", "ep-one", env=env)[0] == 0
    code, out, err = run_cli("ml", "batch-deployment", "create", "-f", str(yaml_path), env=env)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("create", [create_deployment_python, create_deployment_cli],
                         ids=["python", "cli"])
def test_code_upload_leaves_out_what_amlignore_names_and_amlignore_wins_over_gitignore(
        tmp_path, create):
    root = project(tmp_path, {".amlignore": "venv/\ndata/\n*.log\n!keep.log\n",
                              ".gitignore": "src/\n"})
    deployment = create(tmp_path / "home", deployment_yaml(root))
    copy = Path(deployment["code_configuration"]["code"])
    copied = files_in(copy)
    assert {"score.py", "src/helpers.py", "keep.log", "model/model.json"} <= copied
    assert not {p for p in copied if p.startswith(("venv/", "data/"))}
    assert "notes.log" not in copied and "src/debug.log" not in copied
    assert assets.code_source(copy) == root.resolve()


def test_without_amlignore_the_gitignore_is_honoured(tmp_path):
    root = project(tmp_path, {".gitignore": "/venv\ndata\n*.log\n"})
    copy = Path(create_deployment_python(tmp_path / "home", deployment_yaml(root))
                ["code_configuration"]["code"])
    copied = files_in(copy)
    assert "src/helpers.py" in copied and "score.py" in copied
    assert not {p for p in copied if p.startswith(("venv/", "data/")) or p.endswith(".log")}


def test_without_ignore_files_everything_but_hidden_entries_and_caches_is_copied(tmp_path):
    root = project(tmp_path, {".env": "SECRET=1\n", "__pycache__/score.pyc": "x"})
    copy = Path(create_deployment_python(tmp_path / "home", deployment_yaml(root))
                ["code_configuration"]["code"])
    copied = files_in(copy)
    assert {"venv/lib/site.py", "data/big.csv", "notes.log"} <= copied
    assert ".env" not in copied and "__pycache__/score.pyc" not in copied


def test_a_model_folder_upload_honours_its_amlignore(tmp_path):
    root = project(tmp_path, {"model/.amlignore": "checkpoints/\n"})
    model = BatchService(home=tmp_path / "home").create_model(
        name="m", path=str(root / "model"))
    copied = files_in(Path(model["local_path"]))
    assert copied == {"model.json", ".amlignore"}


def test_a_model_registered_through_the_cli_honours_its_gitignore(tmp_path):
    root = project(tmp_path, {"model/.gitignore": "*.bin\n"})
    code, out, err = run_cli("ml", "model", "create", "--name", "m", "--path",
                             str(root / "model"), env={"BATCH_EMULATOR_HOME": str(tmp_path / "h")})
    assert code == 0, err
    assert files_in(Path(json.loads(out)["local_path"])) == {"model.json", ".gitignore"}


def test_the_same_code_from_another_folder_is_one_copy_remembering_the_last_folder(tmp_path):
    service = BatchService(home=tmp_path / "home")
    first = project(tmp_path / "a", {})
    second = project(tmp_path / "b", {})
    copy = assets.register_code(service.store, first)
    assert assets.register_code(service.store, second).parent == copy.parent
    assert assets.code_source(assets.register_code(service.store, second)) == second.resolve()


def test_a_folder_used_in_place_has_no_source_to_map(tmp_path):
    assert assets.code_source(project(tmp_path, {})) is None


def test_a_broken_ignore_pattern_is_one_clear_error(tmp_path):
    root = project(tmp_path, {".amlignore": "venv/\n!\n"})
    service = BatchService(home=tmp_path / "home")
    with pytest.raises(ValidationError, match=r"\.amlignore: cannot be read as an ignore file"):
        assets.register_code(service.store, root)
