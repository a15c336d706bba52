"""Environment work added to a job: the requirement check, and a cached isolated environment.

Targets (issue 4): the default mode adds no environment work beyond the requirement check,
which takes under 0.5 s for a 50-line requirement set; an isolated environment already in
the cache adds no more than 1 s to a job's start (creation until Running).

    python benchmarks/environments.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from importlib import metadata

import _common as common
import yaml

from emulator import run_batch_job
from emulator.engine.environments import EnvironmentSpec, check

SIX_SCRIPT = '''\
import six


def init():
    pass


def run(mini_batch):
    return [six.__version__ for _ in mini_batch]
'''


def fifty_requirements() -> list[str]:
    """50 lines: installed packages pinned to other versions, ranges, and absent ones."""
    installed = sorted({d.metadata["Name"] for d in metadata.distributions()})[:40]
    lines = [f"{name}>=0.0.1" for name in installed[:20]]
    lines += [f"{name}==0.0.0" for name in installed[20:40]]
    lines += [f"not-installed-package-{i}==1.0" for i in range(10)]
    return lines


def time_check(repeat: int) -> float:
    spec = EnvironmentSpec(pip=tuple(fifty_requirements()), python="3.11", source="bench")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        check(spec)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_to_running(root, mode: str, repeat: int) -> float:
    deployment = common.write_deployment(root, script=SIX_SCRIPT, instance_count=1)
    document = yaml.safe_load(deployment.read_text())
    (root / "conda.yml").write_text(yaml.safe_dump(
        {"dependencies": ["pip", {"pip": ["six==1.15.0"]}]}))
    document["environment"] = {"conda_file": "conda.yml", "image": "x"}
    deployment.write_text(yaml.safe_dump(document))
    inputs = root / "inputs"
    common.make_files(inputs, 4)
    os.environ["BATCH_EMULATOR_ENVIRONMENT_MODE"] = mode
    seconds = []
    try:
        run_batch_job(deployment, inputs, home=root / "home",
                      output_path=root / f"warm-{mode}")  # builds (or warms) the cache
        for number in range(repeat):
            job = run_batch_job(deployment, inputs, home=root / "home",
                                output_path=root / f"{mode}-{number}")
            assert job.status == "Completed", job.error
            seconds.append(common.status_seconds(job, "Running"))
    finally:
        del os.environ["BATCH_EMULATOR_ENVIRONMENT_MODE"]
    return statistics.median(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    check_seconds = time_check(max(args.repeat, 5))
    with common.temp_dir("environments") as root:
        current = time_to_running(root / "current", "current", args.repeat)
        isolated = time_to_running(root / "isolated", "isolated", args.repeat)
    added = isolated - current
    common.print_table(["measurement", "seconds"], [
        ["requirement check, 50 lines", f"{check_seconds:.4f}"],
        ["creation -> Running, current mode", f"{current:.3f}"],
        ["creation -> Running, isolated, cached env", f"{isolated:.3f}"],
        ["added by the cached isolated env", f"{added:.3f}"],
    ], title="environments (medians)")
    ok = check_seconds < 0.5 and added <= 1.0
    print(f"\ncheck {check_seconds:.3f} s (target < 0.5 s); cached isolated env adds "
          f"{added:.3f} s (target <= 1 s): {common.verdict(ok)}")
    common.save_results("environments", {"check_seconds": check_seconds, "current": current,
                                          "isolated": isolated, "added": added, "pass": ok,
                                          "environment": common.environment()})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
