"""Hostile and careless documents: every one a clear, short error line, fast, no traceback,
nothing written. Each row of ``DOCUMENTS`` is a YAML text and what its error must say; it
is fed to ``validate``, to ``batch-deployment create`` and to ``run`` alike."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.exceptions import EmulatorError
from emulator.model import schemas
from emulator.model.loader import load_deployment
from tests.helpers import MODEL, SCORING, run_cli

BASE = f"""name: hostile-dpl
endpoint_name: hostile-ep
type: model
model: {{path: {MODEL}}}
code_configuration: {{code: {SCORING}, scoring_script: succeed_list.py}}
"""


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        aliases = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return BASE + "tags:\n" + "\n".join(f"  {line}" for line in lines) + "\n"


DOCUMENTS = [
    pytest.param(billion_laughs(), r"expands to more than 100000 values", id="billion-laughs"),
    pytest.param(BASE + "tags:\n  ? [a, b]\n  : 1\n", r":7: a key must be a plain name",
                 id="complex-key"),
    pytest.param(BASE + "tags: {x: " + "[" * 100 + "]" * 100 + "}\n", r"nested",
                 id="deep-nesting"),
    pytest.param(BASE + "description: " + "x" * (1024 * 1024 + 10) + "\n",
                 r"larger than 1048576 bytes", id="huge-document"),
    pytest.param(BASE.replace("succeed_list.py", "../../etc/passwd"),
                 r"scoring_script: '../../etc/passwd' is not valid: a path relative to",
                 id="scoring-script-climbs-out"),
    pytest.param(BASE.replace("succeed_list.py", "/etc/passwd"),
                 r"scoring_script: '/etc/passwd' is not valid", id="scoring-script-absolute"),
    pytest.param(BASE + 'description: "a\\0b"\n', r"\$\.description: contains a NUL character",
                 id="nul-character"),
    pytest.param(BASE + "settings: {mini_batch_size: " + "9" * 5000 + "}\n", r"mini_batch_size",
                 id="huge-number"),
    pytest.param("- just\n- a list\n", r"must be a YAML mapping|\$: .* is not of type 'object'",
                 id="not-a-mapping"),
]
MAX_LINE = schemas.MAX_MESSAGE + 200  # a message, plus the file name and the JSON path


@pytest.fixture
def written(tmp_path):
    def write(text: str) -> Path:
        path = tmp_path / "hostile.yml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def assert_clear_refusal(code: int, err: str, expected: str, seconds: float) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith(("ERROR: ", "/")), err[:500]  # validate: file:line
    assert "Traceback" not in err
    assert all(len(line) <= MAX_LINE for line in lines), max(map(len, lines))
    assert any(re.search(expected, line) for line in lines), err[:1000]
    assert seconds < 5, f"took {seconds:.1f} s"


@pytest.mark.parametrize(("text", "expected"), DOCUMENTS)
@pytest.mark.parametrize("command", ["validate", "create", "run"])
def test_a_hostile_document_is_a_clear_error(command, text, expected, written, tmp_path):
    path = written(text)
    home = tmp_path / "home"
    arguments = {
        "validate": ["validate", str(path)],
        "create": ["ml", "batch-deployment", "create", "-f", str(path), "-e", "hostile-ep"],
        "run": ["run", "-f", str(path), "-i", str(tmp_path)],
    }[command]
    if command == "create":
        assert run_cli("ml", "batch-endpoint", "create", "-n", "hostile-ep",
                       env={"BATCH_EMULATOR_HOME": str(home)})[0] == 0
    start = time.monotonic()
    code, _, err = run_cli(*arguments, env={"BATCH_EMULATOR_HOME": str(home)})
    assert_clear_refusal(code, err, expected, time.monotonic() - start)
    assert not (home / "default" / "jobs").exists()
    if command == "create":
        code, out, _ = run_cli("ml", "batch-deployment", "list", "-e", "hostile-ep",
                               "--query", "length(@)", "-o", "tsv",
                               env={"BATCH_EMULATOR_HOME": str(home)})
        assert (code, out) == (0, "0\n")


def test_a_bomb_through_set_is_refused_quickly_in_one_short_line(written, tmp_path):
    value = "{" + ", ".join(f"k{i}: &a{i} [" + ",".join([f"*a{i - 1}" if i else "x"] * 9) + "]"
                            for i in range(9)) + "}"
    start = time.monotonic()
    code, _, err = run_cli("validate", str(written(BASE)))
    assert code == 0, err
    code, _, err = run_cli("run", "-f", str(written(BASE)), "-i", str(tmp_path), "--set",
                           f"retry_settings.timeout={value}",
                           env={"BATCH_EMULATOR_HOME": str(tmp_path / "home")})
    assert_clear_refusal(code, err, r"expands to more than|not valid YAML", time.monotonic() - start)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_no_text_makes_the_loader_raise_anything_but_a_clear_error(text):
    try:
        load_deployment(schemas.parse_document(text, "fuzz.yml"), base=Path("/nonexistent"),
                        skip_script_validation=True)
    except EmulatorError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert len(str(exc)) <= MAX_LINE


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=10), children, max_size=4),
                    max_leaves=30))
def test_no_value_under_a_deployment_key_crashes_validation(value):
    for key in ("settings", "model", "code_configuration", "resources", "tags", "name"):
        data = {"name": "fuzz-dpl", "endpoint_name": "fuzz-ep", "type": "model",
                "model": "azureml:m:1", key: value}
        try:
            load_deployment(schemas.Document(data, "fuzz", {}), base=Path("/nonexistent"),
                            skip_script_validation=True)
        except EmulatorError as exc:
            assert str(exc) and len(str(exc)) <= MAX_LINE
