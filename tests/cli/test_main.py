"""The command line: the demo, a direct run, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli


@pytest.mark.slow
def test_demo_runs_end_to_end_in_a_fresh_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "emulator", "demo", "--home", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Completed; 12 of 12 files succeeded in 4 mini-batches" in result.stdout
    results = next(line.split(maxsplit=1)[1] for line in result.stdout.splitlines()
                   if line.startswith("results:"))
    rows = Path(results).read_text().splitlines()
    assert len(rows) == 60  # 12 files x 5 patients, in completion order
    assert "patients-00.csv 0 0 0.0909" in rows
    assert "Completed: mini-batches 4/4 (0 failed), files 12/12 (0 failed)" in result.stderr
    again = subprocess.run([sys.executable, "-m", "emulator", "demo", "--home", str(tmp_path),
                            "-o", "tsv", "--query", "[status]"],
                           capture_output=True, text=True, timeout=300)
    assert (again.returncode, again.stdout) == (0, "Completed\n"), again.stderr


def test_version():
    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.startswith("batch-emulator, version ")


def test_run_prints_the_job_and_exits_zero(tmp_path, make_deployment, make_inputs,
                                           dask_scheduler_address, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
    code, out, err = run_cli(
        "run", "--file", str(make_deployment("succeed_list.py")), "--input",
        str(make_inputs(3)), "--scheduler-address", dask_scheduler_address,
        "--set", "retry_settings.timeout=10", "--mini-batch-size", "1")
    assert code == 0, err
    job = json.loads(out)  # az's job document: 'run' takes -o and --query like every command
    assert (job["status"], job["properties"]["mini_batches_total"]) == ("Completed", "3")
    assert job["settings"]["retry_settings"]["timeout"] == 10
    # progress went to stderr, as timestamped lines (not a terminal), ending Completed
    assert f"job {job['name']}: folder " in err
    assert re.search(r"^\[[-0-9 :]+Z\] Completed: mini-batches 3/3 \(0 failed\), files 3/3",
                     err, re.MULTILINE), err


def test_run_takes_query_and_output(tmp_path, make_deployment, make_inputs,
                                    dask_scheduler_address, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
    code, out, err = run_cli(
        "run", "--file", str(make_deployment("succeed_list.py")), "--input",
        str(make_inputs(2)), "--scheduler-address", dask_scheduler_address,
        "--query", "{s: status, f: properties.files_succeeded}", "-o", "tsv")
    assert (code, out) == (0, "2\tCompleted\n"), err  # az's tsv: the keys' sorted order


@pytest.mark.parametrize("args, message, code", [
    (["run", "--file", "nope.yml", "--input", "."], "ERROR: nope.yml: file not found", 2),
    (["run", "--file", "FIXTURE", "--input", "/does/not/exist"],
     "ERROR: input path /does/not/exist does not exist", 2),
])
def test_errors_are_one_line_with_a_non_zero_exit(args, message, code, make_deployment,
                                                  tmp_path, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
    args = [str(make_deployment("succeed_list.py")) if a == "FIXTURE" else a for a in args]
    exit_code, out, err = run_cli(*args)
    assert exit_code == code
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert "Traceback" not in out + err
