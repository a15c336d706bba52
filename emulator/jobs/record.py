"""The job record: status, counts, output location and errors, saved as ``job.json``."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class JobStatus(str, Enum):
    """Azure's job statuses. A ``str``, so ``record.status == "Completed"`` and JSON work."""

    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    def __str__(self) -> str:  # "Completed", not "JobStatus.COMPLETED", in messages
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})

MAX_FAILED_MINI_BATCHES_KEPT = 100
DEFAULT_LOG = "logs/job_progress_overview.txt"


@dataclass
class FailedMiniBatch:
    id: int
    files: list[str]
    attempts: int
    status: str
    failed_files: int
    error: str
    traceback: str = ""


@dataclass
class JobRecord:
    name: str
    job_folder: str
    status: JobStatus = JobStatus.NOT_STARTED
    deployment_name: str = ""
    endpoint_name: str = ""
    input_path: str = ""
    output_uri: str = ""
    output_folder: str = ""
    output_file: str | None = None
    output_action: str = "append_row"
    creation_time: float = field(default_factory=time.time)
    start_time: float | None = None
    end_time: float | None = None
    status_history: list[tuple[str, float]] = field(default_factory=list)
    mini_batches_total: int = 0
    mini_batches_completed: int = 0
    mini_batches_failed: int = 0
    files_total: int = 0
    files_succeeded: int = 0
    files_failed: int = 0
    error: str = ""
    error_detail: str = ""
    notices: list[str] = field(default_factory=list)
    failed_mini_batches: list[FailedMiniBatch] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    dashboard_link: str = ""  # the Dask dashboard of the job's cluster, while it runs
    log_file: str = DEFAULT_LOG  # what job stream follows, in job_folder
    outputs: dict[str, str] = field(default_factory=dict)  # named outputs of pipelines, steps

    def __post_init__(self) -> None:
        self.status = JobStatus(self.status)
        if not self.status_history:
            self.status_history.append((self.status, self.creation_time))

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def set_status(self, status: JobStatus) -> None:
        now = time.time()
        self.status = JobStatus(status)
        self.status_history.append((self.status, now))
        if status == JobStatus.RUNNING and self.start_time is None:
            self.start_time = now
        if status in TERMINAL:
            self.end_time = now

    @property
    def statuses(self) -> list[str]:
        return [str(status) for status, _ in self.status_history]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (statuses as their plain strings)."""
        values = asdict(self)
        values["status"] = self.status.value
        values["status_history"] = [(str(status), at) for status, at in self.status_history]
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        data = dict(data)
        data["failed_mini_batches"] = [FailedMiniBatch(**f) for f in data.get("failed_mini_batches", [])]
        data["status_history"] = [tuple(s) for s in data.get("status_history", [])]
        return cls(**data)

    @property
    def path(self) -> Path:
        return Path(self.job_folder) / "job.json"

    def save(self) -> None:
        """Write ``job.json`` atomically, so readers never see a half-written record."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one temporary file per writer: a pipeline's runner saves a step from two threads
        temporary = self.path.with_name(f".job.json.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        os.replace(temporary, self.path)

    @classmethod
    def load(cls, job_folder: str | Path) -> JobRecord:
        return cls.from_dict(json.loads((Path(job_folder) / "job.json").read_text("utf-8")))
