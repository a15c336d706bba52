"""Pipeline steps really run in parallel: 8 independent steps on 2 instances against 4 steps
one after the other (each step sleeps STEP_SECONDS, so the work is the same: 8 steps on 2
instances are 4 rounds).

Target (issue 15): the 8 independent steps finish in less than 2x the time of the 4
sequential ones (a run with no parallelism would take 2x; the ideal is 1x). Times are from
the job's creation to its end, as a user waits for it, its own LocalCluster included.

    python benchmarks/pipeline.py [--repeat 3] [--step-seconds 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import _common as common
import yaml

from emulator.service import BatchService


def step(command: str, inputs: dict | None = None) -> dict:
    return {"component": {"name": "sleeper", "type": "command", "command": command,
                          "inputs": inputs or {}, "outputs": {"out": {"type": "uri_folder"}}}}


def independent(count: int, seconds: float) -> dict:
    return {f"s{i}": step(f"sleep {seconds}; echo {i} > ${{{{outputs.out}}}}/done")
            for i in range(count)}


def chain(count: int, seconds: float) -> dict:
    jobs = {"s0": step(f"sleep {seconds}; echo 0 > ${{{{outputs.out}}}}/done")}
    for i in range(1, count):
        jobs[f"s{i}"] = step(f"sleep {seconds}; ls ${{{{inputs.before}}}} > ${{{{outputs.out}}}}/done",
                             {"before": {"type": "uri_folder"}})
        jobs[f"s{i}"]["inputs"] = {"before": f"${{{{parent.jobs.s{i - 1}.outputs.out}}}}"}
    return jobs


def run(root: Path, service: BatchService, name: str, jobs: dict) -> float:
    (root / f"{name}.yml").write_text(yaml.safe_dump({
        "type": "pipeline", "settings": {"default_compute": "azureml:two"}, "jobs": jobs}))
    started = time.perf_counter()
    job = service.create_job(str(root / f"{name}.yml"))
    record = service.wait_job(job["name"], timeout=600)
    assert record.status == "Completed", record.error
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--step-seconds", type=float, default=1.0)
    args = parser.parse_args()
    parallel, sequential = [], []
    with common.temp_dir("pipeline") as root:
        service = BatchService(home=root / "home")
        service.create_compute(name="two", type="amlcompute", max_instances=2)
        for number in range(args.repeat):
            parallel.append(run(root, service, f"parallel-{number}",
                                independent(8, args.step_seconds)))
            sequential.append(run(root, service, f"sequential-{number}",
                                  chain(4, args.step_seconds)))
    eight, four = statistics.median(parallel), statistics.median(sequential)
    ratio = eight / four
    common.print_table(["pipeline", "seconds (median)"], [
        [f"8 independent steps, 2 instances, {args.step_seconds:g} s each", f"{eight:.2f}"],
        [f"4 sequential steps, {args.step_seconds:g} s each", f"{four:.2f}"],
        ["ratio", f"{ratio:.2f}"],
    ], title="pipeline steps in parallel")
    ok = ratio < 2
    print(f"\n8 independent / 4 sequential = {ratio:.2f} (target < 2): {common.verdict(ok)}")
    common.save_results("pipeline", {"parallel": parallel, "sequential": sequential,
                                      "ratio": ratio, "step_seconds": args.step_seconds,
                                      "pass": ok, "environment": common.environment()})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
