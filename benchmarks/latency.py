"""What a user feels: the latency of reads and of small jobs from the CLI, beside yardsticks
measured in the same run (issue 16). Medians of --repeat runs (default 5).

  python -c pass        the interpreter's own start, the floor of any command
  endpoint show         `batch-emulator ml batch-endpoint show` from a cold CLI
  plain script          the seed's scoring script imported, init() and run() over the 40
                        images in mini-batches of 10, rows written: the work itself
  invoke+stream, cold   the seed deployment on its 40 images, `invoke` + `job stream` from a
                        cold CLI, on an amlcompute (a LocalCluster per job)
  invoke+stream, warm   the same on a compute whose Dask cluster already runs (type: dask)
  20,000 files, CLI     `invoke` + `job stream` of 20,000 files (mini_batch_size 10, trivial
                        run(), 2 instances) on the warm compute
  client.map            the same 2,000 mini-batches as bare Dask tasks on that cluster

Targets: show <= 0.15 s (<= 5x `python -c pass`); invoke+stream warm <= 0.6 s, cold <= 1.5 s;
20,000 files through the CLI <= 0.2x bare client.map. Exits non-zero when one is missed.

    python benchmarks/latency.py [--repeat 5] [--files 20000]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common as common
from engine_overhead import time_client_map

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples"
TARGETS = {"show": 0.15, "warm": 0.6, "cold": 1.5, "files_ratio": 0.2}


def cli(home: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
                            text=True, env={**os.environ, "BATCH_EMULATOR_HOME": str(home)},
                            timeout=600)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"batch-emulator {' '.join(args)} failed: {result.stderr[-2000:]}")
    return seconds, result.stdout


def median_of(repeat: int, measure) -> float:
    return statistics.median(measure() for _ in range(repeat))


def python_pass() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def plain_script(output: Path) -> float:
    """The seed's scoring script run the plainest way, in a fresh interpreter."""
    code = f"""
import sys, time
started = time.perf_counter()
sys.path.insert(0, {str(SEED / 'mnist' / 'code')!r})
import os
os.environ["AZUREML_MODEL_DIR"] = {str(SEED / 'mnist')!r}
import digit_identification as script
script.init()
files = sorted(str(p) for p in __import__("pathlib").Path({str(SEED / 'mnist' / 'data')!r}).glob("*.png"))
with open({str(output)!r}, "w") as out:
    for i in range(0, len(files), 10):
        for row in script.run(files[i:i + 10]):
            out.write(str(row) + "\\n")
"""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def invoke_and_stream(home: Path, endpoint: str, data: Path) -> float:
    started = time.perf_counter()
    _, out = cli(home, "ml", "batch-endpoint", "invoke", "-n", endpoint, "--input", str(data),
                 "--query", "name", "-o", "tsv")
    cli(home, "ml", "job", "stream", "-n", out.strip())
    return time.perf_counter() - started


def setup(home: Path, scheduler: str, files: Path) -> None:
    for args in (["ml", "compute", "create", "-n", "cold", "--type", "amlcompute",
                  "--max-instances", "2"],
                 ["ml", "compute", "create", "-n", "warm", "--type", "dask", "--set",
                  f"scheduler_address={scheduler}"]):
        cli(home, *args)
    for endpoint, compute, deployment in (("cold-ep", "cold", None), ("warm-ep", "warm", None),
                                          ("files-ep", "warm", files / "deployment.yml")):
        cli(home, "ml", "batch-endpoint", "create", "-n", endpoint)
        cli(home, "ml", "batch-deployment", "create", "-f",
            str(deployment or SEED / "nonmlflow-deployment.yml"), "-n", f"{endpoint}-dpl",
            "-e", endpoint, "--set", f"compute=azureml:{compute}", "--set-default")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=20000)
    args = parser.parse_args()
    from distributed import Client, LocalCluster  # the warm compute's cluster

    with common.temp_dir("latency") as root, LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        home = root / "home"
        files = root / "files"
        common.make_files(files / "data", args.files)
        common.write_deployment(files, script=common.TRIVIAL_SCRIPT, instance_count=2)
        setup(home, cluster.scheduler_address, files)
        floor = median_of(args.repeat, python_pass)
        show = median_of(args.repeat, lambda: cli(home, "ml", "batch-endpoint", "show", "-n",
                                                   "warm-ep", "-o", "none")[0])
        plain = median_of(args.repeat, lambda: plain_script(root / "plain.txt"))
        data = SEED / "mnist" / "data"
        cold = median_of(args.repeat, lambda: invoke_and_stream(home, "cold-ep", data))
        warm = median_of(args.repeat, lambda: invoke_and_stream(home, "warm-ep", data))
        many = median_of(max(1, args.repeat // 2),
                         lambda: invoke_and_stream(home, "files-ep", files / "data"))
        batches = _mini_batches(files / "data", 10)
        bare = median_of(max(1, args.repeat // 2),
                         lambda: time_client_map(client, files / "code" / "score.py",
                                                 batches)[0])
    ratio = many / bare
    rows = [
        ["python -c pass", f"{floor:.3f}", ""],
        ["batch-endpoint show", f"{show:.3f}", f"<= {TARGETS['show']} s"],
        ["plain script, 40 images", f"{plain:.3f}", ""],
        ["invoke + stream, 40 images, cold compute", f"{cold:.3f}", f"<= {TARGETS['cold']} s"],
        ["invoke + stream, 40 images, warm compute", f"{warm:.3f}", f"<= {TARGETS['warm']} s"],
        [f"invoke + stream, {args.files} files, warm", f"{many:.3f}", ""],
        [f"client.map, the same {len(batches)} mini-batches", f"{bare:.3f}", ""],
        ["CLI / client.map", f"{ratio:.2f}", f"<= {TARGETS['files_ratio']}"],
    ]
    common.print_table(["measurement", "seconds (median)", "target"], rows,
                       title="latency a user feels")
    ok = (show <= TARGETS["show"] and warm <= TARGETS["warm"] and cold <= TARGETS["cold"]
          and ratio <= TARGETS["files_ratio"])
    print(f"\ntargets: {common.verdict(ok)}")
    common.save_results("latency", {"python_pass": floor, "show": show, "plain": plain,
                                     "cold": cold, "warm": warm, "files": many,
                                     "client_map": bare, "ratio": ratio, "pass": ok,
                                     "environment": common.environment()})
    return 0 if ok else 1


def _mini_batches(folder: Path, size: int) -> list[tuple[str, ...]]:
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    return [tuple(files[i:i + size]) for i in range(0, len(files), size)]


if __name__ == "__main__":
    sys.exit(main())
