"""Every code block of the README runs as written, each on a fresh home, so the README cannot
rot. A block runs from a copy of the repository's ``examples/`` (its paths are written from the
repository root). An HTML comment right above a block may say how it is checked instead:

- ``<!-- readme: not run: REASON -->``: not run (the set-up commands install packages; CI runs
  them as ``.ci/run``);
- ``<!-- readme: file PATH -->``: the block is that file of the repository, verbatim (a file
  that another test runs);
- ``<!-- readme: needs azurite -->``: run, where Azurite is installed (skipped elsewhere
  outside CI, as the other Azurite tests are).

The server's port 8790 is replaced by a free one, so a server of the user's does not collide.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, require_azurite

README = ROOT / "README.md"
BLOCK = re.compile(r"(?:<!-- readme: (?P<directive>[^>]*?) -->\n)?```(?P<language>bash|python)\n"
                   r"(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    code: str
    directive: str

    @property
    def id(self) -> str:
        first = next((line for line in self.code.splitlines() if line.strip()), "")
        return f"L{self.line}-{self.language}-{re.sub(r'[^A-Za-z0-9]+', '-', first)[:40]}"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [Block(text.count("\n", 0, match.start("code")) + 1, match["language"],
                  match["code"], (match["directive"] or "").strip())
            for match in BLOCK.finditer(text)]


BLOCKS = readme_blocks()


def test_the_readme_has_blocks_and_every_skip_says_why():
    assert len(BLOCKS) >= 8
    for block in BLOCKS:
        if block.directive.startswith("not run"):
            assert len(block.directive.split(":", 1)[-1].strip()) > 10, block.id


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_a_readme_block_runs_as_written(block: Block, tmp_path):
    if block.directive.startswith("not run"):
        pytest.skip(f"README line {block.line}: {block.directive}")
    if block.directive.startswith("file "):
        path = ROOT / block.directive.removeprefix("file ").strip()
        assert path.read_text(encoding="utf-8") == block.code, \
            f"README line {block.line} differs from {path.relative_to(ROOT)}; make them equal"
        return
    if block.directive == "needs azurite":
        require_azurite()
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    code = block.code.replace("8790", str(free_port()))
    env = {**os.environ, "BATCH_EMULATOR_HOME": str(tmp_path / "home"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if block.language == "python":
        script = tmp_path / "readme_block.py"
        script.write_text(code, encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    log = tmp_path / "block.log"
    with open(log, "w", encoding="utf-8") as output:  # a file: a server left running in the
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output,  # background
                                   stderr=subprocess.STDOUT, start_new_session=True)  # holds no pipe
        try:
            code = process.wait(timeout=420)
        finally:  # whatever the block started and left running goes with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    assert code == 0, (f"README line {block.line} failed ({code}):\n"
                       f"{log.read_text(encoding='utf-8')[-6000:]}")
