"""What a user feels: the latency of reads and of small jobs from the CLI, beside yardsticks
measured in the same run (issue 16). Medians of --repeat runs (default 5).

  python -c pass        the interpreter's own start, the floor of any command
  endpoint show         `batch-emulator ml batch-endpoint show` from a cold CLI
  plain script          the seed's scoring script imported, init() and run() over the 40
                        images in mini-batches of 10, rows written: the work itself
  invoke+stream, cold   the seed deployment on its 40 images, `invoke` + `job stream` from a
                        cold CLI, on an amlcompute with min_instances 0 (a LocalCluster per job)
  invoke+stream, warm   the same on an amlcompute with min_instances 2, whose cluster runs
  20,000 files, CLI     `invoke` + `job stream` of 20,000 files (mini_batch_size 10, trivial
                        run(), 2 instances) on the warm compute
  client.map            the same 2,000 mini-batches as bare Dask tasks on a LocalCluster of 2
  plugin, per test      the sample repository's first test (deploy, invoke, check rows)
                        repeated: (time of 1 + N tests - time of 1 test) / N, on the session
                        cluster; beside it the user's own init(), its script imported and
                        init() called in a fresh interpreter

Targets: show <= 0.15 s (<= 5x `python -c pass`); invoke+stream warm <= 0.6 s, cold <= 1.5 s;
20,000 files through the CLI <= 0.2x bare client.map; the plugin <= 0.3 s a test beyond the
user's init(). Exits non-zero when one is missed.

    python benchmarks/latency.py [--repeat 5] [--files 20000]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common as common
from engine_overhead import time_client_map

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples"
USER_REPO = ROOT / "fixtures" / "user-repo"
TARGETS = {"show": 0.15, "show_floor": 5.0, "warm": 0.6, "cold": 1.5, "files_ratio": 0.2,
           "per_test": 0.3}
PLUGIN_TESTS = 20


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
    return _timed([sys.executable, "-c", "pass"], ROOT)


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


def setup(home: Path, files: Path) -> None:
    for args in (["ml", "compute", "create", "-n", "cold", "--type", "amlcompute",
                  "--max-instances", "2"],
                 ["ml", "compute", "create", "-n", "warm", "--type", "amlcompute",
                  "--min-instances", "2", "--max-instances", "2"]):
        cli(home, *args)
    for endpoint, compute, deployment in (("cold-ep", "cold", None), ("warm-ep", "warm", None),
                                          ("files-ep", "warm", files / "deployment.yml")):
        cli(home, "ml", "batch-endpoint", "create", "-n", endpoint)
        cli(home, "ml", "batch-deployment", "create", "-f",
            str(deployment or SEED / "nonmlflow-deployment.yml"), "-n", f"{endpoint}-dpl",
            "-e", endpoint, "--set", f"compute=azureml:{compute}", "--set-default")
    cli(home, "ml", "compute", "start", "-n", "warm")


def plugin_per_test(root: Path, repeat: int) -> tuple[float, float]:
    """(seconds a plugin test costs on the session cluster, the user's own init())."""
    repo = root / "user-repo"
    shutil.copytree(USER_REPO, repo)
    (repo / "tests").rename(repo / "sample-tests")
    first = (repo / "sample-tests" / "test_scoring.py").read_text().split("\n\n\ndef ")[1]
    body = "def " + first.split("\n\n\n")[0]
    (repo / "tests").mkdir()
    for count in (1, 1 + PLUGIN_TESTS):
        tests = "\n\n\n".join(body.replace("test_every_file_is_scored", f"test_{i}")
                               for i in range(count))
        (repo / "tests" / f"test_{count}.py").write_text(tests + "\n")

    def suite(count: int) -> float:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 f"tests/test_{count}.py"], cwd=repo, capture_output=True,
                                text=True, timeout=600)
        if result.returncode:
            raise SystemExit(f"the plugin suite failed: {result.stdout[-2000:]}")
        return time.perf_counter() - started

    per_test = median_of(repeat, lambda: (suite(1 + PLUGIN_TESTS) - suite(1)) / PLUGIN_TESTS)
    init = median_of(repeat, lambda: _timed([sys.executable, "-c", (
        "import os, sys; sys.path.insert(0, '.'); "
        "os.environ['AZUREML_MODEL_DIR'] = '.'; import score; score.init()")], repo))
    return per_test, init


def _timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=20000)
    args = parser.parse_args()
    from distributed import Client, LocalCluster  # the yardstick's cluster

    with common.temp_dir("latency") as root:
        home = root / "home"
        files = root / "files"
        common.make_files(files / "data", args.files)
        common.write_deployment(files, script=common.TRIVIAL_SCRIPT, instance_count=2)
        setup(home, files)
        try:
            floor = median_of(args.repeat, python_pass)
            show = median_of(args.repeat, lambda: cli(home, "ml", "batch-endpoint", "show",
                                                       "-n", "warm-ep", "-o", "none")[0])
            plain = median_of(args.repeat, lambda: plain_script(root / "plain.txt"))
            data = SEED / "mnist" / "data"
            cold = median_of(args.repeat, lambda: invoke_and_stream(home, "cold-ep", data))
            warm = median_of(args.repeat, lambda: invoke_and_stream(home, "warm-ep", data))
            many = median_of(max(1, args.repeat // 2),
                             lambda: invoke_and_stream(home, "files-ep", files / "data"))
        finally:
            cli(home, "ml", "compute", "stop", "-n", "warm", "--yes")
        batches = _mini_batches(files / "data", 10)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            bare = median_of(max(1, args.repeat // 2),
                             lambda: time_client_map(client, files / "code" / "score.py",
                                                     batches)[0])
        per_test, user_init = plugin_per_test(root, max(1, args.repeat // 2))
    ratio = many / bare
    beyond_init = per_test - user_init
    rows = [
        ["python -c pass", f"{floor:.3f}", ""],
        ["batch-endpoint show", f"{show:.3f}", f"<= {TARGETS['show']} s"],
        ["  show / python -c pass", f"{show / floor:.1f}x",
         f"(<= {TARGETS['show_floor']:.0f}x where python starts in 0.03 s)"],
        ["plain script, 40 images", f"{plain:.3f}", ""],
        ["invoke + stream, 40 images, cold compute", f"{cold:.3f}", f"<= {TARGETS['cold']} s"],
        ["invoke + stream, 40 images, warm compute", f"{warm:.3f}", f"<= {TARGETS['warm']} s"],
        ["  warm / plain script", f"{warm / plain:.1f}x", "stretch: <= 10x"],
        [f"invoke + stream, {args.files} files, warm", f"{many:.3f}", ""],
        [f"client.map, the same {len(batches)} mini-batches", f"{bare:.3f}", ""],
        ["CLI / client.map", f"{ratio:.2f}", f"<= {TARGETS['files_ratio']}"],
        ["plugin test on the session cluster", f"{per_test:.3f}", ""],
        ["  the user's own import + init()", f"{user_init:.3f}", ""],
        ["  a plugin test beyond the user's init()", f"{beyond_init:.3f}",
         f"<= {TARGETS['per_test']} s"],
    ]
    common.print_table(["measurement", "seconds (median)", "target"], rows,
                       title="latency a user feels")
    # The 5x `python -c pass` restates 0.15 s on a machine whose interpreter starts in
    # 0.03 s; it is printed beside the absolute target, which decides.
    ok = (show <= TARGETS["show"]
          and warm <= TARGETS["warm"] and cold <= TARGETS["cold"]
          and ratio <= TARGETS["files_ratio"] and beyond_init <= TARGETS["per_test"])
    print(f"\ntargets: {common.verdict(ok)}")
    common.save_results("latency", {"python_pass": floor, "show": show, "plain": plain,
                                     "cold": cold, "warm": warm, "files": many,
                                     "client_map": bare, "ratio": ratio,
                                     "plugin_per_test": per_test, "user_init": user_init,
                                     "pass": ok, "environment": common.environment()})
    return 0 if ok else 1


def _mini_batches(folder: Path, size: int) -> list[tuple[str, ...]]:
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    return [tuple(files[i:i + size]) for i in range(0, len(files), size)]


if __name__ == "__main__":
    sys.exit(main())
