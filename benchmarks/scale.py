"""Scale: a 1,000,000-file input against a 100,000-file one; time ratio and peak memory.

Both inputs use mini_batch_size 100 and a trivial run(), 2 instances x 1 process, on the
job's own LocalCluster. Each size runs in a fresh subprocess of this script
(``--single N``), so its peak RSS is its own. Input files (empty, 1000 per subfolder) are
created beforehand by the parent and excluded from every timing.

Targets: t(1M) / t(100k) <= 12 (near-linear), peak RSS of the job process < 1 GiB.

    python benchmarks/scale.py                           # 100,000 and 1,000,000 files
    python benchmarks/scale.py --files 100000 --base 10000   # quick
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import _common as common

GIB = 1024 ** 3
TARGET_RATIO = 12.0
TARGET_RSS = 1 * GIB


class RssSampler(threading.Thread):
    """Samples the RSS of this process (and, separately, of its descendants) every ``period``."""

    def __init__(self, period: float = 0.05):
        super().__init__(daemon=True, name="rss-sampler")
        import psutil

        self.process = psutil.Process()
        self.period = period
        self.peak_self = 0
        self.peak_children_sum = 0
        self.peak_child_max = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._halt.is_set():
            try:
                self.peak_self = max(self.peak_self, self.process.memory_info().rss)
                rss = []
                for child in self.process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss.append(child.memory_info().rss)
                if rss:
                    self.peak_children_sum = max(self.peak_children_sum, sum(rss))
                    self.peak_child_max = max(self.peak_child_max, max(rss))
                self.samples += 1
            except psutil.Error:
                pass
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def single(args) -> int:
    """One job in this (fresh) process; prints one JSON line with the measurements."""
    from emulator import run_batch_job

    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    job = run_batch_job(Path(args.deployment), Path(args.data), home=Path(args.home))
    wall = time.perf_counter() - started
    sampler.stop()
    result = {
        "files": args.single,
        "status": job.status,
        "error": job.error,
        "files_succeeded": job.files_succeeded,
        "mini_batches": job.mini_batches_total,
        "wall": wall,
        "job_span": common.job_seconds(job),
        "to_running": common.status_seconds(job, "Running"),
        "to_finalizing": common.status_seconds(job, "Finalizing"),
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # Linux: KiB
        "rss_before_job": baseline_rss,
        "psutil_peak_rss": sampler.peak_self,
        "psutil_peak_descendants_sum": sampler.peak_children_sum,
        "psutil_peak_descendant_max": sampler.peak_child_max,
        "rss_samples": sampler.samples,
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if job.status == "Completed" else 1


def run_size(files: int, root: Path, deployment: Path) -> dict:
    data = root / f"data-{files}"
    print(f"creating {files} files ...", flush=True)
    made = common.make_files(data, files, payload=b"")
    print(f"  created in {made:.1f} s (not timed); running the job in a fresh subprocess",
          flush=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--single", str(files),
               "--data", str(data), "--home", str(root / "home"),
               "--deployment", str(deployment)]
    proc = subprocess.run(command, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"the --single {files} run failed (exit code {proc.returncode})")
    result = json.loads(lines[-1][len("RESULT "):])
    result["create_seconds"] = made
    if result["status"] != "Completed" or result["files_succeeded"] != files:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"job for {files} files ended {result['status']} with "
                           f"{result['files_succeeded']} file(s) succeeded: {result['error']}")
    print(f"  wall {result['wall']:.2f} s, peak RSS {result['ru_maxrss'] / 2**20:.0f} MiB",
          flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000,
                        help="the large input (default 1000000)")
    parser.add_argument("--base", type=int, default=100_000,
                        help="the smaller input the ratio is taken against (default 100000)")
    parser.add_argument("--mini-batch-size", type=int, default=100)
    parser.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    # internal: one job in this process
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--deployment", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single is not None:
        return single(args)

    sizes = sorted({args.base, args.files})
    results = []
    with common.temp_dir("scale", keep=args.keep, base=args.tmp) as root:
        deployment = common.write_deployment(
            root, script=common.TRIVIAL_SCRIPT, mini_batch_size=args.mini_batch_size,
            instance_count=2, concurrency=1)
        for files in sizes:
            results.append(run_size(files, root, deployment))
        print("removing the temporary data ...", flush=True)

    rows = []
    for r in results:
        rows.append([r["files"], r["mini_batches"], r["wall"], r["to_running"], r["job_span"],
                     r["wall"] / r["files"] * 1e6, r["ru_maxrss"] / 2**20,
                     r["psutil_peak_rss"] / 2**20, r["psutil_peak_descendant_max"] / 2**20])
    common.print_table(
        ["files", "mini-batches", "wall s", "to Running s", "job span s", "us/file",
         "ru_maxrss MiB", "psutil peak MiB", "max worker MiB"],
        rows, title=f"scale: mini_batch_size {args.mini_batch_size}, 2 instances x 1 process, "
                    "own LocalCluster")
    small, large = results[0], results[-1]
    ratio = large["wall"] / small["wall"] if len(results) > 1 else None
    size_ratio = large["files"] / small["files"]
    peak = max(max(r["ru_maxrss"], r["psutil_peak_rss"]) for r in results)
    # the target is for 10x the files; scale it if other sizes were chosen
    target_ratio = TARGET_RATIO * size_ratio / 10
    ratio_ok = ratio is None or ratio <= target_ratio
    rss_ok = peak < TARGET_RSS
    if ratio is not None:
        print(f"\nt({large['files']}) / t({small['files']}) = {ratio:.2f}  "
              f"(target <= {target_ratio:g}): {common.verdict(ratio_ok)}")
    print(f"peak RSS of the job process = {peak / 2**20:.0f} MiB  (target < 1024 MiB): "
          f"{common.verdict(rss_ok)}")
    path = common.save_results("scale", {
        "mini_batch_size": args.mini_batch_size, "sizes": sizes, "runs": results,
        "ratio": ratio, "target_ratio": target_ratio, "peak_rss_bytes": peak,
        "target_rss_bytes": TARGET_RSS, "pass": ratio_ok and rss_ok,
    })
    print(f"results written to {path}")
    return 0 if ratio_ok and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
