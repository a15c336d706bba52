"""What the pytest plugin hands to tests: an emulator per test, job results, fault injection,
and single mini-batches scored in a real scoring process. Usable without pytest, too."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emulator.exceptions import EmulatorError
from emulator.model.schemas import load_document
from emulator.service import (
    FAULTS_VARIABLE,
    RUN_DONE,
    RUN_TIMEOUT,
    BatchService,
    FailedMiniBatch,
    JobRecord,
)

COMPUTE = "pytest-cluster"
FAULT_MODES = ("raise", "hang", "crash")


class BatchJobError(AssertionError):
    """A job did not end as the test expected; the message is the job's failure report."""


@dataclass
class BatchJobResult:
    """A finished job: status, counts, predictions, the job report and a failure report."""

    record: JobRecord
    document: dict

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def succeeded(self) -> int:
        return self.record.files_succeeded

    @property
    def failed(self) -> int:
        return self.record.files_failed

    @property
    def total(self) -> int:
        return self.record.files_total

    @property
    def output_file(self) -> Path | None:
        return Path(self.record.output_file) if self.record.output_file else None

    @property
    def logs(self) -> Path:
        return Path(self.record.job_folder) / "logs"

    def predictions(self, names: Sequence[str] | None = None, sep: str | None = None):
        """``predictions.csv`` as a DataFrame (no header; space-separated, or comma-separated
        for MLflow models scored by the emulator's driver)."""
        if self.output_file is None:
            raise BatchJobError(f"job {self.name} has no results file (status {self.status}, "
                                f"output_action {self.record.output_action})")
        if sep is None:
            sep = "," if "mlflow_driver" in self._plan().get("code_dir", "") else " "
        if self.output_file.stat().st_size == 0:
            return pd.DataFrame(columns=list(names) if names else None)
        return pd.read_csv(self.output_file, sep=sep, header=None,
                           names=list(names) if names else None)

    def report(self):
        """``logs/sys/job_report/processed_mini-batches.csv`` as a DataFrame."""
        return pd.read_csv(self.logs / "sys" / "job_report" / "processed_mini-batches.csv")

    def _plan(self) -> dict:
        try:
            return json.loads((Path(self.record.job_folder) / "plan.json").read_text())
        except OSError:
            return {}

    def describe(self) -> str:
        """What went wrong, for a test report: each failed mini-batch, the limit it hit, and
        the user's own traceback."""
        record = self.record
        settings = record.settings
        retry = settings.get("retry_settings", {})
        lines = [f"batch job {record.name} {record.status}: {record.files_succeeded} of "
                 f"{record.files_total} file(s) succeeded, {record.files_failed} failed"]
        if record.error:
            lines.append(f"  error: {record.error}")
        threshold = settings.get("error_threshold", -1)
        if threshold >= 0 and record.files_failed > threshold:
            lines.append(f"  limit hit: error_threshold={threshold} ({record.files_failed} "
                         "file(s) failed)")
        for failure in sorted(record.failed_mini_batches, key=lambda f: f.id):
            lines.append(_describe_failure(failure, retry))
        tracebacks = sorted((f for f in record.failed_mini_batches if f.traceback),
                            key=lambda f: f.id)
        if tracebacks:
            lines.append(f"  traceback of mini-batch {tracebacks[0].id} (last attempt):")
            lines.extend(f"    {line}" for line in tracebacks[0].traceback.rstrip().splitlines())
        elif record.error_detail:
            lines.extend(f"    {line}" for line in record.error_detail.rstrip().splitlines())
        lines.append(f"  logs: {self.logs}")
        return "\n".join(lines)

    def assert_completed(self) -> BatchJobResult:
        """The job Completed (failed files tolerated by error_threshold are fine)."""
        __tracebackhide__ = True
        if self.status != "Completed":
            raise BatchJobError(self.describe())
        return self

    def assert_all_succeeded(self) -> BatchJobResult:
        """The job Completed and every input file counts as succeeded."""
        __tracebackhide__ = True
        if self.status != "Completed" or self.failed:
            raise BatchJobError(self.describe())
        return self


def _describe_failure(failure: FailedMiniBatch, retry: Mapping[str, Any]) -> str:
    files = ", ".join(Path(f).name for f in failure.files[:5])
    if len(failure.files) > 5:
        files += f", … ({len(failure.files)} files)"
    head = f"  mini-batch {failure.id} [{files}]: {failure.status} after {failure.attempts} " \
           f"attempt(s)"
    if failure.status == RUN_DONE:
        returned = len(failure.files) - failure.failed_files
        return (f"{head}: run() returned {returned} item(s) for {len(failure.files)} file(s); "
                f"{failure.failed_files} row(s) missing, counted as failed files")
    limits = []
    if failure.status == RUN_TIMEOUT:
        limits.append(f"timeout (retry_settings.timeout={retry.get('timeout')} s)")
    if failure.attempts > retry.get("max_retries", 0):
        limits.append(f"retries (max_retries={retry.get('max_retries')} exhausted)")
    hit = f"; limit hit: {' and '.join(limits)}" if limits else ""
    return f"{head}{hit}: {failure.error}"


@dataclass
class Fault:
    pattern: str
    mode: str
    times: int | None
    counter: str

    def as_dict(self) -> dict:
        return {"pattern": self.pattern, "mode": self.mode, "times": self.times,
                "counter": self.counter}


@dataclass
class BatchEmulator:
    """An isolated emulator (its own home) on a shared cluster; cheap to create per test."""

    home: Path
    scheduler_address: str | None = None
    in_process: bool = False
    default_deployment: Path | None = None
    wait_timeout: float = 120.0
    jobs: list[BatchJobResult] = field(default_factory=list, repr=False)
    faults: list[Fault] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.service = BatchService(home=self.home, jobs_in_threads=True,
                                    in_process_scoring=self.in_process)
        if self.scheduler_address:
            self.service.create_compute(name=COMPUTE, type="dask", set_values=[
                f"scheduler_address={self.scheduler_address}"])
        self._endpoint: str | None = None

    # ------------------------------------------------------------------ resources

    def deploy(self, deployment: str | os.PathLike | None = None, *,
               set_values: Iterable[str] = (), endpoint_name: str | None = None,
               name: str | None = None, default: bool = True,
               skip_script_validation: bool = False) -> dict:
        """Create the endpoint (if needed) and the deployment from YAML (``--set`` overrides
        as ``set_values``); it runs on the session's cluster and becomes the default."""
        path = Path(deployment or self.default_deployment or "deployment.yml")
        data = load_document(path).data or {}
        endpoint = endpoint_name or data.get("endpoint_name") or "test-endpoint"
        if not self.service.endpoint_exists(endpoint):
            self.service.create_endpoint(name=endpoint)
        # the session cluster is the compute, whatever the YAML names for Azure
        extra = [f"compute=azureml:{COMPUTE}" if self.scheduler_address else "compute=null"]
        document = self.service.create_deployment(
            str(path), name=name, endpoint_name=endpoint, set_values=[*set_values, *extra],
            set_default=default, skip_script_validation=skip_script_validation)
        self._endpoint = document["endpoint_name"]
        return document

    def inject_fault(self, pattern: str, mode: str = "raise", times: int | None = None) -> None:
        """Make run() raise, hang past its timeout, or crash its process for files whose base
        name matches the glob ``pattern`` (the first ``times`` attempts; all when None)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"fault mode {mode!r}: use one of {', '.join(FAULT_MODES)}")
        counters = self.home / "faults"
        counters.mkdir(parents=True, exist_ok=True)
        counter = counters / f"{len(self.faults)}.count"
        self.faults.append(Fault(pattern, mode, times, str(counter)))

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ jobs

    def invoke(self, input: str | os.PathLike | None = None, *,
               files: Iterable[str | os.PathLike] | None = None, rows: Any = None,
               endpoint_name: str | None = None, deployment_name: str | None = None,
               mini_batch_size: int | None = None, instance_count: int | None = None,
               set_values: Iterable[str] = (), output_path: str | None = None,
               timeout: float | None = None, wait: bool = True) -> BatchJobResult:
        """Invoke on a folder or file (``input``), on a list of ``files``, or on ``rows`` the
        test writes (a DataFrame, a list of dicts, or ``{"name.csv": rows}``); wait for the end
        (deadline ``timeout``, default 120 s) and return the result."""
        given = [x is not None for x in (input, files, rows)]
        if sum(given) != 1:
            raise ValueError("pass exactly one of input=, files=, rows=")
        if files is not None:
            input = self._stage_files(files)
        elif rows is not None:
            input = self._stage_rows(rows)
        endpoint = endpoint_name or self._endpoint
        if endpoint is None:
            raise EmulatorError("no endpoint yet: call deploy() first, or pass endpoint_name=")
        faults = {FAULTS_VARIABLE: json.dumps([f.as_dict() for f in self.faults])} \
            if self.faults else None
        document = self.service.invoke(
            endpoint, input=str(input), deployment_name=deployment_name,
            mini_batch_size=mini_batch_size, instance_count=instance_count,
            set_values=list(set_values), output_path=output_path, environment_variables=faults)
        if not wait:
            return self._result(document["name"])
        limit = timeout or self.wait_timeout
        try:
            self.service.wait_job(document["name"], timeout=limit)
        except TimeoutError:
            self.service.cancel_job(document["name"])
            result = self._result(document["name"])
            raise BatchJobError(f"job {document['name']} still {result.status} after {limit} s; "
                                f"it was cancelled\n{result.describe()}") from None
        result = self._result(document["name"])
        self.jobs.append(result)
        return result

    def job(self, name: str) -> BatchJobResult:
        return self._result(name)

    def _result(self, name: str) -> BatchJobResult:
        return BatchJobResult(self.service.job_record(name), self.service.show_job(name))

    def _stage_files(self, files: Iterable[str | os.PathLike]) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="files-", dir=self._inputs_root()))
        for file in files:
            source = Path(file)
            if not source.is_file():
                raise EmulatorError(f"input file {source} does not exist")
            shutil.copy2(source, folder / source.name)
        return folder

    def _stage_rows(self, rows: Any) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="rows-", dir=self._inputs_root()))
        tables = rows if isinstance(rows, Mapping) else {"rows.csv": rows}
        for name, table in tables.items():
            frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
            if name.endswith((".parquet", ".pqt")):
                frame.to_parquet(folder / name)
            else:
                frame.to_csv(folder / name, index=False)
        return folder

    def _inputs_root(self) -> Path:
        root = self.home / "inputs"
        root.mkdir(parents=True, exist_ok=True)
        return root
