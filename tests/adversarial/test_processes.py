"""Processes, adversarially: what run() starts does not outlive a timeout, even when it
detaches itself (a session of its own, a double fork)."""

from __future__ import annotations

import pytest

from tests.helpers import process_gone, trace_lines, wait_for


@pytest.mark.slow
def test_a_timeout_kills_what_run_started_even_detached(make_deployment, make_inputs, run_job,
                                                       trace_dir):
    job = run_job(make_deployment("detached_child.py", timeout=3, max_retries=0),
                  make_inputs(1))
    assert job.status == "Completed" and job.files_failed == 1
    children = [int(row[0]) for row in trace_lines(trace_dir, "children.txt")]
    assert len(children) == 2
    wait_for(lambda: all(process_gone(pid) for pid in children), 10,
             "the detached children to be gone")


@pytest.mark.slow
def test_a_hung_init_is_killed_at_its_own_deadline(make_deployment, make_inputs, run_job,
                                                  monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_INIT_TIMEOUT", "2")
    job = run_job(make_deployment("init_hangs.py", timeout=60), make_inputs(1))
    assert job.status == "Failed"
    assert "init() did not finish within 2 seconds (BATCH_EMULATOR_INIT_TIMEOUT" in \
        job.error_detail
    assert job.end_time - job.start_time < 30  # 3 slots x 3 tries x 2 s, not 3 x 210 s


@pytest.mark.slow
def test_a_huge_instance_count_is_capped_at_the_machines_ceiling(make_deployment, make_inputs,
                                                                home, monkeypatch):
    from emulator import run_batch_job

    monkeypatch.setenv("BATCH_EMULATOR_MAX_LOCAL_INSTANCES", "2")
    job = run_batch_job(make_deployment("succeed_list.py"), make_inputs(4), home=home,
                        instance_count=100_000, timeout=120)  # its own local cluster
    assert job.status == "Completed", job.error
    assert job.settings["instance_count"] == 2
    assert any("instance_count=100000 capped at 2 local workers" in notice
               for notice in job.notices)


@pytest.mark.slow
def test_a_job_cancelled_while_its_cluster_starts_stops_within_seconds(make_deployment,
                                                                       make_inputs, home,
                                                                       monkeypatch):
    from emulator import start_batch_job

    monkeypatch.setenv("BATCH_EMULATOR_MAX_LOCAL_INSTANCES", "4")
    job = start_batch_job(make_deployment("succeed_list.py"), make_inputs(4), home=home,
                          instance_count=100_000)  # capped: 4 workers of its own to start
    job.cancel()
    record = job.wait(60)
    assert record.status == "Canceled"
    assert record.end_time - record.creation_time < 30
    assert record.output_file is None
