"""Shell completion, as click provides it: ``eval "$(_BATCH_EMULATOR_COMPLETE=bash_source
batch-emulator)"`` (zsh_source, fish_source) prints the script, and the script's requests
complete commands and options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("batch-emulator")  # the installed console script


def complete(**variables: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **variables})


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o nosort -F _batch_emulator_completion batch-emulator"),
    ("zsh", "#compdef batch-emulator"),
    ("fish", "complete --no-files --command batch-emulator"),
])
def test_each_shell_gets_a_completion_script(shell, marker):
    result = complete(_BATCH_EMULATOR_COMPLETE=f"{shell}_source")
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_BATCH_EMULATOR_COMPLETE" in result.stdout


def test_the_bash_script_completes_commands_and_options():
    commands = complete(_BATCH_EMULATOR_COMPLETE="bash_complete",
                        COMP_WORDS="batch-emulator ml batch-", COMP_CWORD="2")
    assert commands.returncode == 0, commands.stderr
    assert {"plain,batch-endpoint", "plain,batch-deployment"} <= set(commands.stdout.split())
    options = complete(_BATCH_EMULATOR_COMPLETE="bash_complete",
                       COMP_WORDS="batch-emulator ml batch-endpoint invoke --inp",
                       COMP_CWORD="4")
    assert "plain,--input" in options.stdout.split()
