"""The job's outputs: the append_row results file, and Azure's log layout.

Output uniqueness: the results file is written to a hidden partial file beside its final
name and published with ``os.link``, which fails when the name exists, so two jobs racing
for one path cannot both publish, and nobody ever sees a half-written results file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
from pathlib import Path

from emulator.engine.tasks import MiniBatchResult
from emulator.exceptions import OutputExistsError

# File names that are not UTF-8 (Linux allows any bytes) reach Python as lone surrogates;
# written back with surrogateescape they are the file's own bytes, as Azure writes them.
NAMES = "surrogateescape"
APPEND_ROW = "append_row"
SUMMARY_ONLY = "summary_only"


def check_output_available(output_dir: Path, output_action: str, output_file_name: str) -> None:
    """Refuse up front an output that exists: the results file, or a non-empty summary folder."""
    if output_action == APPEND_ROW:
        target = output_dir / output_file_name
        if target.exists():
            raise OutputExistsError(
                f"output file {target} already exists and is never overwritten; choose a new "
                "--output-path or --set output_file_name=<new name>")
    elif output_dir.is_dir() and any(not p.name.startswith(".") for p in output_dir.iterdir()):
        raise OutputExistsError(
            f"output folder {output_dir} is not empty (output_action=summary_only); "
            "choose a new --output-path")


def partial_path(output_dir: Path, file_name: str, job_name: str) -> Path:
    """Where a job writes its results before publishing them: hidden, named for the job."""
    return output_dir / f".{file_name}.{job_name}.partial"


class ResultsFile:
    """The append_row file: rows appended as mini-batches finish, published on commit."""

    def __init__(self, output_dir: Path, file_name: str, job_name: str):
        self.final = output_dir / file_name
        self.partial = partial_path(output_dir, file_name, job_name)
        output_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial, "x", encoding="utf-8", errors=NAMES, newline="")  # noqa: SIM115
        self.rows_written = 0

    def append(self, rows: str) -> None:
        if rows:
            self._file.write(rows)
            self.rows_written += rows.count("\n")

    def commit(self) -> Path:
        self._file.close()
        try:
            os.link(self.partial, self.final)
        except FileExistsError:
            self.discard()
            raise OutputExistsError(
                f"output file {self.final} was created by someone else while this job ran; "
                "it was left untouched; rerun with a new --output-path") from None
        except OSError:  # a filesystem without hard links: exclusive create, then copy
            try:
                with open(self.final, "xb") as target, open(self.partial, "rb") as source:
                    shutil.copyfileobj(source, target)
            except FileExistsError:
                self.discard()
                raise OutputExistsError(f"output file {self.final} already exists; it was "
                                        "left untouched; rerun with a new --output-path") from None
        self.partial.unlink()
        return self.final

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()


REPORT_COLUMNS = [
    "Mini-batch Id", "Attempts", "Instance", "Process", "Start Time", "Elapsed Seconds",
    "Total", "Succeeded", "Failed", "Status", "Error Message", "First File",
]


# Every attempt of every mini-batch, one JSON object a line, beside job.json (not in logs/,
# which keeps Azure's layout): what the job's page draws its timeline from.
ATTEMPTS_FILE = "attempts.jsonl"
MAX_TRACEBACK_CHARS = 8000  # its end, where the user's frame and the exception are


class JobLogs:
    """``<job>/logs``: overview, result, error, the job report, and the emulator's own log;
    and ``<job>/attempts.jsonl``, each attempt with its instance, process and times."""

    def __init__(self, job_dir: Path, logging_level: str):
        self.dir = job_dir / "logs"
        self._attempts = open(job_dir / ATTEMPTS_FILE, "a", encoding="utf-8")  # noqa: SIM115
        (self.dir / "sys" / "job_report").mkdir(parents=True, exist_ok=True)
        (self.dir / "user").mkdir(parents=True, exist_ok=True)
        self.overview_path = self.dir / "job_progress_overview.txt"
        self.report_path = self.dir / "sys" / "job_report" / "processed_mini-batches.csv"
        import logging  # a job's logs are written by its runner: reads skip it

        self.logger = logging.getLogger(f"emulator.job.{job_dir.name}")
        self.logger.propagate = False
        self.logger.setLevel(getattr(logging, logging_level.upper(), logging.INFO))
        self._handler = logging.FileHandler(self.dir / "sys" / "master_role.txt", encoding="utf-8",
                                            errors=NAMES)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.logger.addHandler(self._handler)
        self._report = open(self.report_path, "w", encoding="utf-8", errors=NAMES, newline="")  # noqa: SIM115
        self._report_writer = csv.writer(self._report)
        self._report_writer.writerow(REPORT_COLUMNS)
        (self.dir / "readme.txt").write_text(_README, encoding="utf-8")

    def overview(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        with open(self.overview_path, "a", encoding="utf-8", errors=NAMES) as file:
            file.write(f"{stamp} {line}\n")
        self.logger.info(line)

    def report(self, result: MiniBatchResult, instance: str) -> None:
        last = result.final
        self._report_writer.writerow([
            result.mini_batch.id, result.attempt_count, instance, last.process,
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last.start)),
            f"{last.elapsed:.3f}", result.total, result.succeeded, result.failed,
            last.status, last.error, result.mini_batch.files[0] if result.mini_batch.files else "",
        ])
        files = [os.path.basename(path) for path in result.mini_batch.files]
        first = result.attempt_count - len(result.attempts) + 1  # earlier ones: a lost worker
        for number, attempt in enumerate(result.attempts, start=first):
            self._attempts.write(json.dumps({
                "mini_batch": result.mini_batch.id, "attempt": number,
                "attempts": result.attempt_count, "instance": instance,
                "process": attempt.process, "start": attempt.start, "elapsed": attempt.elapsed,
                "status": attempt.status, "error": attempt.error, "files": files,
                "traceback": attempt.traceback[-MAX_TRACEBACK_CHARS:]}) + "\n")
                # ASCII with escapes: a file name that is not UTF-8 stays its own bytes

    def flush(self) -> None:
        self._report.flush()
        self._attempts.flush()

    def finish(self, result_line: str, error_text: str | None) -> None:
        (self.dir / "job_result.txt").write_text(result_line + "\n", encoding="utf-8",
                                                 errors=NAMES)
        if error_text:
            (self.dir / "job_error.txt").write_text(error_text.rstrip() + "\n",
                                                    encoding="utf-8", errors=NAMES)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._report.close()
        with contextlib.suppress(OSError):
            self._attempts.close()
        self.logger.removeHandler(self._handler)
        self._handler.close()


_README = """\
Layout of this job's logs (as in Azure ML batch endpoints):
  job_progress_overview.txt            progress: mini-batches created and processed, final result
  job_result.txt                       the job's final result in one line
  job_error.txt                        why the job failed (only when it failed)
  sys/master_role.txt                  the emulator's own log, filtered by logging_level
  sys/job_report/processed_mini-batches.csv
                                       one row per mini-batch: attempts, process, status, counts
  user/error/<instance>/process<NNN>.txt      tracebacks of init() and run()
  user/stdout/<instance>/process<NNN>.stdout.txt  what the scoring script printed or logged
  user/stderr/<instance>/process<NNN>.stderr.txt  the scoring script's stderr
  user/entry_script_log/<instance>/       EntryScript().logger files
"""
