"""Engine overhead: the emulator against a sequential loop and a bare Dask ``client.map``.

Many small files (default 20,000), mini_batch_size 10, a trivial run(), 2 instances x 1
process. Measures, per repetition:

  sequential   the same run() called in-process over the same mini-batches
  client.map   one Dask task per mini-batch on a LocalCluster(2 workers x 1 thread,
               processes=True) that is already running: map + gather only
  emulator/shared  run_batch_job(..., scheduler_address=<that cluster>): the call's wall time
  emulator/own     run_batch_job(...) starting its own LocalCluster: wall time of the call

Target (issue): emulator on the shared cluster within 1.5x of bare client.map
(stretch: faster).

    python benchmarks/engine_overhead.py                 # 20,000 files, 3 repetitions
    python benchmarks/engine_overhead.py --files 2000 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import sys
import time
from pathlib import Path

import _common as common

TARGET_RATIO = 1.5
SCORE_MODULE = "bench_overhead_score"


def load_run(script: Path):
    """The scoring script's run(), imported once per process (sys.modules is the cache)."""
    module = sys.modules.get(SCORE_MODULE)
    if module is None:
        spec = importlib.util.spec_from_file_location(SCORE_MODULE, script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[SCORE_MODULE] = module
        if hasattr(module, "init"):
            module.init()
    return module.run


def score_mini_batch(files, script):
    """The client.map task: import the scoring script in the worker, call run()."""
    return load_run(Path(script))(list(files))


def time_sequential(script: Path, batches: list[tuple[str, ...]]) -> tuple[float, int]:
    run = load_run(script)
    started = time.perf_counter()
    items = 0
    for files in batches:
        items += len(run(list(files)))
    return time.perf_counter() - started, items


def time_client_map(client, script: Path, batches: list[tuple[str, ...]]) -> tuple[float, int]:
    started = time.perf_counter()
    futures = client.map(score_mini_batch, batches, script=str(script), pure=False)
    results = client.gather(futures)
    elapsed = time.perf_counter() - started
    del futures
    return elapsed, sum(len(r) for r in results)


def time_emulator(deployment: Path, data: Path, home: Path, scheduler_address=None) -> dict:
    from emulator import run_batch_job

    started = time.perf_counter()
    job = run_batch_job(deployment, data, home=home, scheduler_address=scheduler_address)
    wall = time.perf_counter() - started
    if job.status != "Completed":
        raise RuntimeError(f"emulator job {job.name} ended {job.status}: {job.error}")
    return {
        "wall": wall,
        "job_span": common.job_seconds(job),  # Running .. end (start_time..end_time)
        "to_running": common.status_seconds(job, "Running"),  # listing + cluster connect
        "to_finalizing": common.status_seconds(job, "Finalizing"),
        "files_succeeded": job.files_succeeded,
        "mini_batches": job.mini_batches_total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000, help="input files (default 20000)")
    parser.add_argument("--mini-batch-size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from emulator.engine.partition import list_input_files, partition

    with common.temp_dir("overhead", keep=args.keep) as root:
        deployment = common.write_deployment(
            root, script=common.TRIVIAL_SCRIPT, mini_batch_size=args.mini_batch_size,
            instance_count=2, concurrency=1)
        script = root / "code" / "score.py"
        data = root / "data"
        made = common.make_files(data, args.files)
        print(f"created {args.files} files in {made:.1f} s (not timed)")
        batches = [mb.files for mb in partition(list_input_files(data), args.mini_batch_size)]
        print(f"{len(batches)} mini-batches of up to {args.mini_batch_size}; "
              f"{args.repeat} repetition(s)")

        runs: dict[str, list] = {"sequential": [], "client_map": [], "emulator_shared": [],
                                 "emulator_own": []}
        home = root / "home"
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster, set_as_default=False)
        try:
            for rep in range(args.repeat):
                seconds, items = time_sequential(script, batches)
                assert items == args.files, items
                runs["sequential"].append(seconds)

                seconds, items = time_client_map(client, script, batches)
                assert items == args.files, items
                runs["client_map"].append(seconds)

                shared = time_emulator(deployment, data, home, cluster.scheduler_address)
                assert shared["files_succeeded"] == args.files, shared
                runs["emulator_shared"].append(shared)
                print(f"  rep {rep + 1}: sequential {runs['sequential'][-1]:.3f} s, "
                      f"client.map {seconds:.3f} s, emulator(shared) {shared['wall']:.3f} s")
        finally:
            client.close()
            cluster.close()

        for rep in range(args.repeat):
            own = time_emulator(deployment, data, home)
            assert own["files_succeeded"] == args.files, own
            runs["emulator_own"].append(own)
            print(f"  rep {rep + 1}: emulator(own cluster) {own['wall']:.3f} s")

    def med(values):
        return statistics.median(values)

    seq = med(runs["sequential"])
    cmap = med(runs["client_map"])
    shared_wall = med(r["wall"] for r in runs["emulator_shared"])
    shared_span = med(r["job_span"] for r in runs["emulator_shared"])
    own_wall = med(r["wall"] for r in runs["emulator_own"])
    own_span = med(r["job_span"] for r in runs["emulator_own"])
    own_to_running = med(r["to_running"] for r in runs["emulator_own"])
    shared_to_running = med(r["to_running"] for r in runs["emulator_shared"])

    rows = [
        ["sequential loop (in-process)", seq, min(runs["sequential"]), "", ""],
        ["bare client.map (running cluster)", cmap, min(runs["client_map"]), "", 1.0],
        ["emulator, shared cluster: call wall", shared_wall,
         min(r["wall"] for r in runs["emulator_shared"]), shared_to_running, shared_wall / cmap],
        ["emulator, shared cluster: job span", shared_span,
         min(r["job_span"] for r in runs["emulator_shared"]), "", shared_span / cmap],
        ["emulator, own cluster: call wall", own_wall,
         min(r["wall"] for r in runs["emulator_own"]), own_to_running, own_wall / cmap],
        ["emulator, own cluster: job span", own_span,
         min(r["job_span"] for r in runs["emulator_own"]), "", own_span / cmap],
    ]
    common.print_table(
        ["measurement", "median s", "min s", "to Running s", "/ client.map"], rows,
        title=f"engine overhead: {args.files} files, {len(batches)} mini-batches, "
              "2 instances x 1 process")
    ratio = shared_wall / cmap
    ok = ratio <= TARGET_RATIO
    print(f"\nemulator(shared cluster) / client.map = {ratio:.2f}  (target <= {TARGET_RATIO}, "
          f"stretch < 1.0): {common.verdict(ok)}"
          + ("  [stretch met]" if ratio < 1.0 else ""))
    print(f"emulator(own cluster) / client.map     = {own_wall / cmap:.2f}  (includes cluster "
          "start-up; informational)")

    path = common.save_results("engine_overhead", {
        "files": args.files, "mini_batch_size": args.mini_batch_size,
        "mini_batches": len(batches), "repeat": args.repeat, "runs": runs,
        "median": {"sequential": seq, "client_map": cmap, "emulator_shared_wall": shared_wall,
                   "emulator_shared_job_span": shared_span, "emulator_own_wall": own_wall,
                   "emulator_own_job_span": own_span},
        "ratio_shared_vs_client_map": ratio, "ratio_own_vs_client_map": own_wall / cmap,
        "target_ratio": TARGET_RATIO, "pass": ok,
    })
    print(f"results written to {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
