"""Timeouts: how soon after the deadline a hanging run() is killed and recorded.

A run() that sleeps for an hour on every mini-batch, retry_settings.timeout 2 s,
max_retries 0, a handful of mini-batches (default 6, one file each), 2 instances x 1
process. From the job's logs/sys/job_report/processed_mini-batches.csv, the delay of each
timed-out mini-batch is ``Elapsed Seconds - timeout`` (the attempt starts when the request
is sent; the row is recorded after the kill). Also reports the job's total wall time
against the ideal ``ceil(mini-batches / processes) x timeout``.

Target: delay under 3 s (stretch: under 0.5 s).

    python benchmarks/timeouts.py
    python benchmarks/timeouts.py --mini-batches 2     # quick
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import threading
import time
from pathlib import Path

import _common as common

TARGET = 3.0
STRETCH = 0.5

# run() notes its pid and start time beside the code folder, so that a watcher thread here
# can see independently of the engine's own report when each process actually died.
HANGING_SCRIPT = '''\
import os
import time

NOTES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "pids")


def init():
    os.makedirs(NOTES, exist_ok=True)


def run(mini_batch):
    started = time.time()
    name = os.path.join(NOTES, f"{os.getpid()}-{os.path.basename(mini_batch[0])}")
    with open(name + ".tmp", "w") as note:
        note.write(f"{os.getpid()} {started!r} {mini_batch[0]}\\n")
    os.replace(name + ".tmp", name + ".txt")
    time.sleep(3600)
    return list(mini_batch)
'''


class DeathWatcher(threading.Thread):
    """Polls the pids run() noted and records when each process is gone (or a zombie)."""

    def __init__(self, folder: Path, period: float = 0.005):
        super().__init__(daemon=True, name="death-watcher")
        self.folder, self.period = folder, period
        self.started: dict[int, tuple[float, str]] = {}  # pid -> (run() start, file)
        self.died: dict[int, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._halt.is_set():
            if self.folder.is_dir():
                for note in self.folder.glob("*.txt"):
                    pid_text, start, file = note.read_text().split(maxsplit=2)
                    self.started.setdefault(int(pid_text), (float(start), file.strip()))
            now = time.time()
            for pid in self.started.keys() - self.died.keys():
                try:
                    alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                except psutil.NoSuchProcess:
                    alive = False
                if not alive:
                    self.died[pid] = now
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mini-batches", type=int, default=6)
    parser.add_argument("--timeout", type=int, default=2, help="retry_settings.timeout (s)")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="max_concurrency_per_instance")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    from emulator import run_batch_job

    with common.temp_dir("timeouts", keep=args.keep) as root:
        deployment = common.write_deployment(
            root, script=HANGING_SCRIPT, mini_batch_size=1,
            instance_count=args.instances, concurrency=args.concurrency,
            timeout=args.timeout, max_retries=0)
        data = root / "data"
        common.make_files(data, args.mini_batches)
        watcher = DeathWatcher(root / "pids")
        watcher.start()
        started = time.perf_counter()
        job = run_batch_job(deployment, data, home=root / "home",
                            timeout=600 + 10 * args.mini_batches * args.timeout)
        wall = time.perf_counter() - started
        time.sleep(0.1)
        watcher.stop()
        report = Path(job.job_folder) / "logs" / "sys" / "job_report" / \
            "processed_mini-batches.csv"
        with open(report, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))

    timed_out = [r for r in rows if r["Status"] == "RUN_TIMEOUT"]
    delays = sorted(float(r["Elapsed Seconds"]) - args.timeout for r in timed_out)
    slots = args.instances * args.concurrency
    # observed: from run()'s own start + timeout to the process being gone
    observed = {file: watcher.died[pid] - (start + args.timeout)
                for pid, (start, file) in watcher.started.items() if pid in watcher.died}
    never_died = [file for pid, (_, file) in watcher.started.items() if pid not in watcher.died]
    observed_sorted = sorted(observed.values())
    ideal = math.ceil(args.mini_batches / slots) * args.timeout
    print(f"job {job.name}: {job.status}; {len(rows)} report row(s), {len(timed_out)} "
          f"RUN_TIMEOUT; other statuses: "
          f"{sorted({r['Status'] for r in rows} - {'RUN_TIMEOUT'}) or 'none'}")
    common.print_table(
        ["mini-batch", "instance", "process", "elapsed s", "elapsed - timeout s",
         "observed death - deadline s"],
        [[r["Mini-batch Id"], r["Instance"], r["Process"], float(r["Elapsed Seconds"]),
          float(r["Elapsed Seconds"]) - args.timeout, observed.get(r["First File"])]
         for r in sorted(timed_out, key=lambda r: int(r["Mini-batch Id"]))],
        title=f"timed-out mini-batches (timeout {args.timeout} s, {slots} process(es))")
    summary = None
    if delays:
        summary = {"min": delays[0], "median": statistics.median(delays), "max": delays[-1]}
    common.print_table(
        ["measurement", "seconds"],
        [["kill delay min", summary and summary["min"]],
         ["kill delay median", summary and summary["median"]],
         ["kill delay max", summary and summary["max"]],
         ["observed death - deadline, median",
          statistics.median(observed_sorted) if observed_sorted else None],
         ["observed death - deadline, max", observed_sorted[-1] if observed_sorted else None],
         ["job wall time (run_batch_job call)", wall],
         ["job span (start_time..end_time)", common.job_seconds(job)],
         [f"ideal: ceil({args.mini_batches}/{slots}) x {args.timeout}", float(ideal)],
         ["wall - ideal (start-up, respawns, teardown)", wall - ideal]],
        title="summary")
    if never_died:
        print(f"WARNING: {len(never_died)} hanging run() process(es) were still alive at the "
              f"end: {never_died}")
    worst = max(delays[-1] if delays else math.inf,
                observed_sorted[-1] if observed_sorted else 0.0)
    ok = (bool(delays) and len(timed_out) == args.mini_batches and worst < TARGET
          and not never_died)
    if summary:
        print(f"\nmax kill delay {worst:.3f} s (report and observed; target < {TARGET} s, "
              f"stretch < {STRETCH} s): {common.verdict(ok)}"
              + ("  [stretch met]" if ok and worst < STRETCH else ""))
    else:
        print(f"\nno RUN_TIMEOUT rows recorded: {common.verdict(False)} ({job.error})")
    path = common.save_results("timeouts", {
        "mini_batches": args.mini_batches, "timeout": args.timeout, "instances": args.instances,
        "concurrency": args.concurrency, "job_status": job.status, "job_error": job.error,
        "report_rows": rows, "timed_out": len(timed_out), "kill_delay": summary,
        "kill_delays": delays, "observed_death_minus_deadline": observed,
        "still_alive": never_died, "wall": wall, "job_span": common.job_seconds(job),
        "ideal": ideal, "target": TARGET, "stretch": STRETCH, "pass": ok,
    })
    print(f"results written to {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
