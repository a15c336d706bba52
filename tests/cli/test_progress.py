"""A running job is not silent: ``job stream`` (and ``run``, ``demo``) show its progress live,
as timestamped lines when piped and as a bar on a terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from emulator.cli.progress import Progress
from emulator.service import BatchService
from tests.helpers import run_cli

LINE = re.compile(r"^\[[-0-9 :]+Z\] (\w+): mini-batches (\d+)/20 \((\d+) failed\), "
                  r"files (\d+)/20", re.MULTILINE)


@pytest.fixture
def slow_job(tmp_path, make_deployment, make_inputs, dask_scheduler_address, monkeypatch):
    """A 20-mini-batch job started on the session's cluster; its name, once it runs."""
    home = tmp_path / "home"
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(home))
    deployment = make_deployment("slow_list.py", mini_batch_size=1,
                                 env={"SLOW_SECONDS": "0.1"})
    handle = BatchService(home=home).start_job(deployment, make_inputs(20),
                                               scheduler_address=dask_scheduler_address)
    yield handle.name
    handle.wait(120)


def test_job_stream_shows_progress_while_the_job_runs(slow_job):
    code, out, err = run_cli("ml", "job", "stream", "-n", slow_job)
    assert code == 0, err
    assert out.startswith(f"RunId: {slow_job}\nWeb View: ")
    assert re.search(rf"^\[[-0-9 :]+Z\] job {slow_job}: folder /", out, re.MULTILINE)
    assert re.search(r"^\[[-0-9 :]+Z\] Dask dashboard: http://127\.0\.0\.1:\d+/status$", out,
                     re.MULTILINE), out
    progress = [(status, int(done)) for status, done, _, _ in LINE.findall(out)]
    running = [done for status, done in progress if status == "Running"]
    assert len(running) >= 2, out  # it moved while it ran, in steps of a lease
    # it moved while Running; the last Running line may count all 20, scored before Finalizing
    assert running == sorted(running) and running[0] < running[-1]
    assert progress[-1] == ("Completed", 20)
    assert " mini-batches/s" in out
    assert "ETA " in out
    assert out.rstrip().endswith(f"RunId: {slow_job}\nStatus: Completed")


def test_a_terminal_gets_a_progress_bar(slow_job):
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "ml", "job", "stream", "-n", slow_job],
        stdout=follower, stderr=follower, stdin=subprocess.DEVNULL,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(60) == 0
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert "━" in screen  # rich's bar
    assert re.search(r"Completed\s+━+\s+mini-batches 20/20 \(0 failed\)", screen), screen
    assert "Status: Completed" in screen


def test_rate_and_eta_come_from_the_counts():
    record = SimpleNamespace(mini_batches_completed=5, mini_batches_total=20,
                             mini_batches_failed=1, files_succeeded=8, files_failed=2,
                             files_total=40, start_time=100.0, status="Running",
                             is_terminal=False)
    progress = Progress.of(record, now=110.0)
    assert progress.line() == ("Running: mini-batches 5/20 (1 failed), files 10/40 "
                               "(2 failed), 0.5 mini-batches/s, ETA 30 s")
    queued = SimpleNamespace(**{**vars(record), "status": "Queued", "mini_batches_total": 0,
                                "mini_batches_completed": 0, "start_time": None})
    assert Progress.of(queued).line() == "Queued"


def test_verbose_adds_a_line_per_mini_batch(slow_job):
    code, out, err = run_cli("ml", "job", "stream", "-n", slow_job, "--verbose")
    assert code == 0, err
    lines = re.findall(r"^mini-batch (\d+): RUN_DONE after 1 attempt\(s\), [0-9.]+ s on "
                       r"instance-0/process\d+, 1 of 1 file\(s\) succeeded$", out, re.MULTILINE)
    assert sorted(map(int, lines)) == list(range(20)), out
