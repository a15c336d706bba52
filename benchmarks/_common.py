"""Helpers shared by the benchmark scripts: temp workspaces, input files, YAML, reporting.

Not a benchmark itself. Each script puts ``benchmarks/`` first on ``sys.path`` by being
run as ``python benchmarks/NAME.py``, which makes ``import _common`` work.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

TRIVIAL_SCRIPT = '''\
import os


def init():
    pass


def run(mini_batch):
    return [os.path.basename(f) for f in mini_batch]
'''

HANGING_SCRIPT = '''\
import time


def init():
    pass


def run(mini_batch):
    time.sleep(3600)
    return list(mini_batch)
'''

DEPLOYMENT_YAML = """\
$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
name: {name}
endpoint_name: benchmarks
type: model
model:
  name: bench-model
  path: model
code_configuration:
  code: code
  scoring_script: score.py
resources:
  instance_count: {instance_count}
settings:
  max_concurrency_per_instance: {concurrency}
  mini_batch_size: {mini_batch_size}
  output_action: {output_action}
  output_file_name: predictions.csv
  retry_settings:
    max_retries: {max_retries}
    timeout: {timeout}
  error_threshold: -1
  logging_level: info
"""


@contextmanager
def temp_dir(prefix: str, keep: bool = False, base: str | None = None):
    """A fresh temporary folder, removed afterwards unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-", dir=base))
    try:
        yield path
    finally:
        if keep:
            print(f"(kept temporary folder {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def write_deployment(root: Path, *, script: str, name: str = "bench", mini_batch_size: int = 10,
                     instance_count: int = 2, concurrency: int = 1, timeout: int = 30,
                     max_retries: int = 3, output_action: str = "append_row") -> Path:
    """``root/deployment.yml`` with ``code/score.py`` and an (empty-ish) model folder."""
    (root / "code").mkdir(parents=True, exist_ok=True)
    (root / "code" / "score.py").write_text(script, encoding="utf-8")
    (root / "model").mkdir(exist_ok=True)
    (root / "model" / "model.json").write_text("{}\n", encoding="utf-8")
    path = root / "deployment.yml"
    path.write_text(DEPLOYMENT_YAML.format(
        name=name, instance_count=instance_count, concurrency=concurrency,
        mini_batch_size=mini_batch_size, output_action=output_action,
        max_retries=max_retries, timeout=timeout), encoding="utf-8")
    return path


def make_files(folder: Path, count: int, per_folder: int = 1000, payload: bytes = b"x\n") -> float:
    """``count`` tiny files in subfolders of ``per_folder`` files; returns seconds taken."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    width = len(str(max(count - 1, 0)))
    for first in range(0, count, per_folder):
        sub = folder / f"part{first // per_folder:05d}"
        sub.mkdir()
        prefix = str(sub) + "/f"
        for number in range(first, min(first + per_folder, count)):
            fd = os.open(f"{prefix}{number:0{width}d}.txt", flags, 0o644)
            if payload:
                os.write(fd, payload)
            os.close(fd)
    return time.perf_counter() - started


def job_seconds(job) -> float | None:
    """The job's own Running..end span from its record (``start_time``..``end_time``)."""
    if job.start_time is None or job.end_time is None:
        return None
    return job.end_time - job.start_time


def status_seconds(job, status: str) -> float | None:
    """Seconds from the job's creation to the first time it reached ``status``."""
    for name, stamp in job.status_history:
        if name == status:
            return stamp - job.creation_time
    return None


def environment() -> dict:
    import distributed

    return {
        "python": sys.version.split()[0],
        "distributed": distributed.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def save_results(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {"benchmark": name, "environment": environment(), **data}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in cells:
        print("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 0.1 else f"{value:.3f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("xs%"))
    except ValueError:
        return False
    return True


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
