"""A running job, followed live: a ``rich`` progress bar on a terminal, timestamped lines when
the output is piped (as Azure's ``job stream`` prints), the job's log lines in between."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

import click

# How often a followed job is read: a read of one SQLite row costs about a millisecond, and
# `job stream` returns this much sooner after a job ends.
FOLLOW_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Progress:
    """What a progress line or bar shows, computed from a job record."""

    status: str
    done: int
    failed: int
    total: int
    files_done: int
    files_failed: int
    files_total: int
    rate: float | None  # mini-batches per second since the job started running
    eta: float | None  # seconds, at that rate

    unit: str = "mini-batches"

    @classmethod
    def of(cls, record: Any, now: float | None = None) -> Progress:
        now = time.time() if now is None else now
        steps = (getattr(record, "settings", None) or {}).get("steps")
        if isinstance(steps, dict):  # a pipeline job: its steps are what advances
            return cls(str(record.status), steps["done"], steps["failed"], steps["total"], 0, 0,
                       0, None, None, unit="steps")
        done, total = record.mini_batches_completed, record.mini_batches_total
        elapsed = now - record.start_time if record.start_time else 0.0
        rate = done / elapsed if done and elapsed > 0 else None
        eta = (total - done) / rate if rate and total >= done and not record.is_terminal else None
        return cls(str(record.status), done, record.mini_batches_failed, total,
                   record.files_succeeded + record.files_failed, record.files_failed,
                   record.files_total, rate, eta)

    def line(self) -> str:
        counts = self.counts()
        return f"{self.status}: {counts}" if counts else self.status

    def counts(self) -> str:
        if not self.total:
            return ""  # the input is not listed yet, or a pipeline's step: no counts
        parts = [f"{self.unit} {self.done}/{self.total} ({self.failed} failed)"]
        if self.unit == "mini-batches":
            parts.append(f"files {self.files_done}/{self.files_total} "
                         f"({self.files_failed} failed)")
        if self.rate is not None:
            parts.append(f"{self.rate:.1f} mini-batches/s")
        if self.eta is not None:
            parts.append(f"ETA {_duration(self.eta)}")
        return ", ".join(parts)

    def key(self) -> tuple:
        """What must change for a new plain line (rate and ETA alone do not)."""
        return (self.status, self.done, self.failed, self.total, self.files_done)


def follow(service: Any, name: str, stream: IO[str] | None = None, *,
           log_lines: bool = True, poll: float = FOLLOW_POLL_SECONDS,
           mini_batches: bool | None = None) -> Any:
    """Show the job until it ends; its final record. Where its folder and (once its cluster is
    up) its Dask dashboard are comes first. ``mini_batches`` (default: the command's
    ``--verbose``) adds a line per finished mini-batch."""
    if mini_batches is None:
        context = click.get_current_context(silent=True)
        mini_batches = bool(context and context.params.get("verbose"))
    stream = stream or sys.stdout
    view = _Bar(stream) if _is_terminal(stream) else _Lines(stream)
    record = service.job_record(name)
    view.note(f"job {record.name}: folder {record.job_folder}")
    dashboard_shown = False
    try:
        for record, lines in service.follow_job(name, poll, mini_batches):
            if record.dashboard_link and not dashboard_shown:
                view.note(f"Dask dashboard: {record.dashboard_link}")
                dashboard_shown = True
            if log_lines:
                for line in lines:
                    view.log(line)
            view.update(Progress.of(record))
    finally:
        view.close()
    return record


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Lines:
    """Piped output: a timestamped line when the status or a count changes."""

    def __init__(self, stream: IO[str]):
        self.stream, self.last = stream, None

    def note(self, text: str) -> None:
        click.echo(f"[{_now()}] {text}", file=self.stream)

    def log(self, text: str) -> None:
        click.echo(text, file=self.stream)

    def update(self, progress: Progress) -> None:
        if progress.key() != self.last:
            self.last = progress.key()
            self.note(progress.line())

    def close(self) -> None:
        pass


class _Bar:
    """A terminal: one live bar (status, mini-batches, files, rate, ETA); log lines above it."""

    def __init__(self, stream: IO[str]):
        from rich.console import Console  # only terminals pay for importing rich
        from rich.progress import BarColumn, TextColumn
        from rich.progress import Progress as RichProgress

        self.console = Console(file=stream)
        self.bar = RichProgress(TextColumn("{task.description:<11}"), BarColumn(),
                            TextColumn("{task.fields[summary]}"), console=self.console,
                            transient=False)
        self.task = self.bar.add_task("Starting", total=None, summary="")
        self.bar.start()

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def log(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def update(self, progress: Progress) -> None:
        self.bar.update(self.task, description=progress.status, completed=progress.done,
                        total=progress.total or None, summary=progress.counts())

    def close(self) -> None:
        self.bar.stop()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
