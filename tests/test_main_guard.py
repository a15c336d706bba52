"""A script that calls ``run_batch_job`` at its top level without ``if __name__ ==
"__main__":`` is told so in one sentence, before any Dask worker is spawned (each would re-run
the script); a guarded script, or one using an existing scheduler, runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES

DEPLOYMENT = FIXTURES / "deployments" / "minimal.yml"


def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for number in range(3):
        (data / f"f{number}.txt").write_text("x\n")
    script = tmp_path / "score_locally.py"
    script.write_text("from emulator import run_batch_job\n\n" + body.format(
        deployment=DEPLOYMENT, data=data, home=tmp_path / "home"), encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=240)


def assert_told_to_add_the_guard(result: subprocess.CompletedProcess, line: int) -> None:
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("emulator.exceptions.ClusterError: score_locally.py starts a batch job at its "
                    f"top level (line {line}); Dask starts its workers by re-running that script, "
                    'so put the call under if __name__ == "__main__":')
    assert len(result.stderr.strip().splitlines()) < 15, result.stderr
    assert "Failed to start process" not in result.stderr
    assert "bootstrapping phase" not in result.stderr
    assert result.stdout == ""


def test_an_unguarded_call_is_one_clear_error_before_any_worker_starts(tmp_path):
    result = run_script(tmp_path, 'job = run_batch_job("{deployment}", "{data}", '
                                  'home="{home}", timeout=60)\nprint(job.status)\n')
    assert_told_to_add_the_guard(result, line=3)
    assert not (tmp_path / "home").exists()  # nothing was started or written


def test_a_call_inside_a_function_called_unguarded_is_told_at_the_calling_line(tmp_path):
    result = run_script(tmp_path, 'def main():\n'
                                  '    run_batch_job("{deployment}", "{data}", home="{home}")\n'
                                  '\n'
                                  'main()\n')
    assert_told_to_add_the_guard(result, line=6)


@pytest.mark.slow
def test_a_guarded_script_runs_on_its_own_local_cluster(tmp_path):
    result = run_script(tmp_path, 'def main():\n'
                                  '    job = run_batch_job("{deployment}", "{data}", '
                                  'home="{home}", timeout=120)\n'
                                  '    print(job.status, job.error)\n'
                                  '\n'
                                  'if __name__ == "__main__":\n'
                                  '    main()\n')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Completed"


def test_an_unguarded_script_on_an_existing_scheduler_runs(tmp_path, dask_scheduler_address):
    """Nothing is spawned then, so nothing re-runs the script."""
    result = run_script(tmp_path, 'job = run_batch_job("{deployment}", "{data}", home="{home}", '
                                  f'scheduler_address="{dask_scheduler_address}", timeout=120)\n'
                                  'print(job.status)\n')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Completed"
