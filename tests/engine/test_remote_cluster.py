"""Jobs on an existing Dask scheduler: a real `dask scheduler` and `dask worker` processes on
loopback, started by the test; jobs side by side; a worker lost mid-job."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import trace_lines, wait_for


def _parent(pid: str) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
def test_a_lost_worker_costs_only_its_running_attempts(dask_processes, make_deployment,
                                                       make_inputs, start_job, trace_dir):
    address, processes = dask_processes
    workers = {p.pid: p for p in processes[1:]}
    inputs = make_inputs(24)
    deployment = make_deployment("slow_list.py", env={"SLOW_SECONDS": "0.15"}, mini_batch_size=2,
                                 instance_count=2, max_concurrency_per_instance=2)
    job = start_job(deployment, inputs, scheduler_address=address)

    def victim():
        for row in trace_lines(trace_dir, "runs.txt"):
            try:
                parent = _parent(row[0])
            except OSError:
                continue
            if parent in workers:
                return parent
        return None

    pid = wait_for(victim, 60, "a run on one of the workers")
    os.kill(pid, signal.SIGKILL)
    record = job.wait(180)

    assert record.status == "Completed", record.error
    assert (record.files_succeeded, record.files_failed) == (24, 0)
    lines = Path(record.output_file).read_text().splitlines()
    assert sorted(lines) == [f"f{i:03d}.txt" for i in range(24)]  # every file once
    report = {row["Mini-batch Id"]: row for row in _report(record)}
    assert len(report) == 12
    retried = [row for row in report.values() if row["Attempts"] != "1"]
    assert retried, "the attempts running on the lost worker count"
    assert all(row["Attempts"] == "2" for row in retried)
    assert len(retried) <= 4  # at most the 2 x 2 attempts that were running there


@pytest.mark.slow
def test_two_jobs_side_by_side_keep_their_processes_env_and_files(
        dask_processes, make_deployment, make_inputs, start_job, tmp_path):
    address, _ = dask_processes
    inputs = make_inputs(8)
    jobs = []
    for name in ("left", "right"):
        deployment = make_deployment("inspect_env.py", env={"GREETING": name}, mini_batch_size=1,
                                     instance_count=2, max_concurrency_per_instance=1)
        jobs.append(start_job(deployment, inputs, scheduler_address=address,
                              output_path=tmp_path / f"out-{name}"))
    left, right = (job.wait(120) for job in jobs)
    for record, name in ((left, "left"), (right, "right")):
        assert record.status == "Completed", record.error
        seen = [json.loads(line) for line in Path(record.output_file).read_text().splitlines()]
        assert {s["greeting"] for s in seen} == {name}
        assert {s["cwd"] for s in seen} == {record.job_folder}
        assert {s["output_path"] for s in seen} == {record.output_folder}
    # one process per instance for max_concurrency 1 (whichever instances Dask gave leases)
    instances = list((Path(left.job_folder) / "logs" / "user" / "stdout").iterdir())
    assert instances and all(set(os.listdir(folder)) == {"process000.stdout.txt"}
                             for folder in instances)


@pytest.mark.slow
def test_max_concurrency_per_instance_holds_on_a_shared_worker(
        dask_processes, make_deployment, make_inputs, start_job, trace_dir):
    address, _ = dask_processes
    deployment = make_deployment("slow_list.py", env={"SLOW_SECONDS": "0.1"}, mini_batch_size=1,
                                 instance_count=1, max_concurrency_per_instance=1)
    record = start_job(deployment, make_inputs(8), scheduler_address=address).wait(120)
    assert record.status == "Completed", record.error
    pids = Counter(row[0] for row in trace_lines(trace_dir, "runs.txt"))
    assert len(pids) == 1  # workers have 2 threads, the deployment allows 1 process


def _report(record):
    import csv

    path = Path(record.job_folder) / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    with open(path, newline="") as file:
        return list(csv.DictReader(file))
