"""The seed article's REST flow as a shell script (curl + jq) against the live server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import SEED

SCRIPT = Path(__file__).with_name("rest_flow.sh")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="the REST flow script needs bash")
@pytest.mark.skipif(shutil.which("curl") is None, reason="the REST flow script needs curl")
@pytest.mark.skipif(shutil.which("jq") is None, reason="the REST flow script needs jq")
def test_rest_flow_with_curl_and_jq(live_server, tmp_path):
    """Token from the CLI, scoring URI from the CLI, preview and GA invokes polled to Completed,
    the HTTP job visible to ``ml job show``, 401 without a token and for the wrong audience."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "batch-emulator"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m emulator "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "BATCH_EMULATOR_URL": live_server.url,
        "BATCH_EMULATOR_HOME": str(live_server.home),
        "SEED_DATA": str(SEED / "mnist" / "data"),
        "POLL_SECONDS": "120",
    }
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=270, check=False)
    assert result.returncode == 0, (f"rest_flow.sh exited {result.returncode}\n"
                                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    print(result.stdout)
    assert "REST flow OK" in result.stdout
