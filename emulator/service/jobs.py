"""job show/list/stream/download/cancel; a job whose runner died is shown Failed."""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.jobs import launch
from emulator.jobs.record import TERMINAL, JobRecord, JobStatus
from emulator.model.specs import Updates
from emulator.service import documents

ARCHIVED = "is_archived"
SCORING_STEP = documents.SCORING_STEP
REPORT = "sys/job_report/processed_mini-batches.csv"  # under the job's logs/
EDITABLE_JOB_FIELDS = ("display_name", "description", "tags", "properties")


class JobOperations:
    # ================================================================== jobs

    def show_job(self, name: str) -> dict:
        """A job, or its scoring step (``<job>-batchscoring``, its one child job, as in Azure)."""
        document, step = self.job_or_step(name)
        return documents.scoring_step(document) if step else document

    def job_or_step(self, name: str) -> tuple[dict, bool]:
        """The document of the job ``name``, or of the job whose scoring step ``name`` names:
        (the job's document, whether ``name`` is its scoring step). A job of that very name
        comes first."""
        found = self.store.get_job(name)
        if found is not None:
            return documents.job(self.store, self._reconciled(*found)), False
        return documents.job(self.store, self._job(name)), scoring_step_of(name) is not None

    def list_jobs(self, endpoint_name: str | None = None, deployment_name: str | None = None,
                  max_results: int | None = None, include_archived: bool = False,
                  parent_job_name: str | None = None) -> list[dict]:
        """Newest first; archived jobs only with ``include_archived``, as az does; with
        ``parent_job_name``, that job's child jobs."""
        if parent_job_name is not None:
            return self.child_jobs(parent_job_name)[:max_results]
        if endpoint_name is not None:
            endpoint_name = self._endpoint(endpoint_name)["name"]
            if deployment_name is not None:
                self._deployment(deployment_name, endpoint_name)
        if max_results is not None and max_results < 1:
            raise ValidationError(f"--max-results {max_results}: give a number of 1 or more")
        rows = self.store.list_jobs(endpoint_name=endpoint_name, deployment_name=deployment_name)
        rows = [(body, pid) for body, pid in rows if not body.get("parent_job_name")
                and (include_archived or not body.get(ARCHIVED))][:max_results]
        return [documents.job(self.store, self._reconciled(body, pid)) for body, pid in rows]

    def child_jobs(self, name: str) -> list[dict]:
        """A job's child jobs: a pipeline job's steps (in the order they run), a batch
        job's one scoring step; a step has none."""
        document, step = self.job_or_step(name)
        if step or document.get("parent_job_name"):
            return []
        if document.get("steps") is not None:
            return [self.show_job(f"{name}-{step_name}") for step_name in document["steps"]]
        return [documents.scoring_step(document)]

    def archive_job(self, name: str) -> dict:
        """Hide the job from ``job list`` (``--include-archived`` shows it); nothing is deleted."""
        return self._set_job_fields(name, {ARCHIVED: True})

    def restore_job(self, name: str) -> dict:
        return self._set_job_fields(name, {ARCHIVED: False})

    def update_job(self, name: str, set_values: Iterable[str] = (),
                   add: Iterable[Sequence[str]] = (), remove: Iterable[Sequence[str]] = (),
                   force_string: bool = False) -> dict:
        """az's generic update on the fields of a job a user may change, as in Azure:
        ``display_name``, ``description``, ``tags`` and ``properties``."""
        current = documents.job(self.store, self._job(name))
        editable = {key: current[key] for key in EDITABLE_JOB_FIELDS}
        changed = Updates.of(set_values, add, remove, force_string).apply(editable)
        unknown = sorted(set(changed) - set(EDITABLE_JOB_FIELDS))
        if unknown:
            raise ValidationError(f"job {name}: {', '.join(unknown)} cannot be changed; a job's "
                                  f"{', '.join(EDITABLE_JOB_FIELDS)} can")
        for key in ("tags", "properties"):
            if not isinstance(changed.get(key), dict):
                raise ValidationError(f"job {name}: {key} must stay a mapping of names to values")
        properties, before = changed["properties"], current["properties"]
        if any(key not in properties or str(properties[key]) != str(value)
               for key, value in before.items()):
            raise ValidationError(f"job {name}: properties can be added, not removed or changed")
        added = {str(k): str(v) for k, v in properties.items() if k not in before}
        return self._set_job_fields(name, {
            "display_name": str(changed["display_name"] or name),
            "description": "" if changed["description"] is None else str(changed["description"]),
            "tags": {str(k): str(v) for k, v in changed["tags"].items()},
            "user_properties": {**self._job(name).get("user_properties", {}), **added},
        })

    def _set_job_fields(self, name: str, fields: dict) -> dict:
        self._job(name)  # a clear error when there is no such job
        self.store.update_job_fields(name, fields)
        return documents.job(self.store, self._job(name))

    def cancel_job(self, name: str) -> dict:
        body = self._job(name)
        record = JobRecord.from_dict(body["record"])
        if record.status in TERMINAL:
            self.warnings.append(f"job {name} already ended ({record.status}); nothing to cancel")
            return documents.job(self.store, body)
        launch.request_cancel(body.get("runner_folder") or record.job_folder)
        body["display_status"] = "CancelRequested"
        return documents.job(self.store, body)

    def wait_job(self, name: str, timeout: float | None = None, poll: float = 0.05) -> JobRecord:
        """The job's final record; ``TimeoutError`` when it still runs after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for body in self._follow(name, poll):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {name} still {body['record']['status']} after {timeout} s")
        return self.job_record(name)

    def job_record(self, name: str) -> JobRecord:
        """The job's record (statuses, counts, failed mini-batches), for callers in Python."""
        return JobRecord.from_dict(self._job(name)["record"])

    def stream_job(self, name: str, poll: float = 0.2) -> Iterator[str]:
        """Lines of the job's progress log as they are written, until the job ends."""
        record = self.job_record(name)
        yield f"RunId: {record.name}"
        yield f"Web View: {self.show_job(name)['services']['Studio']['endpoint']}"
        yield ""
        yield "Streaming logs/job_progress_overview.txt"
        yield "========================================"
        for snapshot in self.follow_job(name, poll):
            record, lines = snapshot
            yield from lines
        yield ""
        yield "Execution Summary"
        yield "================="
        yield f"RunId: {record.name}"
        yield f"Status: {record.status}"
        if record.error:
            yield f"Error: {record.error}"

    def follow_job(self, name: str, poll: float = 0.2,
                   mini_batches: bool = False) -> Iterator[tuple[JobRecord, list[str]]]:
        """The job's record and the new lines of its progress log, every ``poll`` seconds
        until it ends (the last pair has the final record); with ``mini_batches``, a line per
        mini-batch as it is booked in the job report too."""
        record = self.job_record(name)
        overview = Path(record.job_folder) / record.log_file
        report = Path(record.job_folder) / "logs" / REPORT
        offset = report_offset = 0
        while True:
            record = JobRecord.from_dict(self._job(name)["record"])
            offset, lines = _read_new_lines(overview, offset)
            if mini_batches:
                report_offset, rows = _read_new_lines(report, report_offset)
                lines += [_mini_batch_line(row) for row in rows if not row.startswith("Mini")]
            yield record, lines
            if record.is_terminal:
                return
            time.sleep(poll)

    def _follow(self, name: str, poll: float) -> Iterator[dict]:
        while True:
            body = self._job(name)
            if body["record"]["status"] in TERMINAL:
                return
            yield body
            time.sleep(poll)

    def download_job(self, name: str, download_path: str | None = None,
                     output_name: str | None = None, all_outputs: bool = False) -> dict:
        body = self._job(name)
        record = JobRecord.from_dict(body["record"])
        target = Path(download_path or ".").resolve()
        copies: list[tuple[Path, Path]] = []
        outputs = record.outputs or {"score": record.output_folder}
        if output_name is not None and output_name not in outputs:
            raise ResourceNotFoundError(f"job {name} has no output named {output_name!r}; its "
                                        f"outputs: {', '.join(sorted(outputs)) or 'none'}")
        for output, folder in outputs.items():
            if output_name == output or (all_outputs and output_name is None):
                copies.append((Path(folder), target / "named-outputs" / output))
        if all_outputs or not output_name:
            copies.append((Path(record.job_folder) / "logs", target / "artifacts" / "logs"))
        for source, destination in copies:
            if destination.exists() and any(destination.iterdir()):
                raise ValidationError(f"{destination} already exists and is not empty; choose "
                                      "another --download-path")
            if not source.exists():
                raise ResourceNotFoundError(f"job {name} has nothing at {source} yet (status "
                                            f"{record.status})")
        for source, destination in copies:
            shutil.copytree(source, destination, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".*.partial"))
        return {"name": name, "download_path": str(target),
                "downloaded": [str(destination) for _, destination in copies]}

    def _job(self, name: str) -> dict:
        """The stored job ``name``, or the job whose scoring step it names (a step is followed,
        downloaded and cancelled as its job)."""
        found = self.store.get_job(name)
        if found is None and scoring_step_of(name) is not None:
            found = self.store.get_job(scoring_step_of(name))
        if found is None:
            raise ResourceNotFoundError(f"job {name!r} does not exist in workspace "
                                        f"{self.workspace.name!r}; see 'batch-emulator ml job list'")
        return self._reconciled(*found)

    def _reconciled(self, body: dict, pid: int | None) -> dict:
        """A job whose runner died is shown (and recorded) Failed, never Running forever."""
        status = body["record"]["status"]
        name = body["record"]["name"]
        # a pipeline's step is carried by the pipeline's runner
        runner_folder = body.get("runner_folder") or body["record"]["job_folder"]
        if status in TERMINAL or launch.runner_alive(runner_folder):
            return body
        found = self.store.get_job(name)  # the runner may have ended just now
        if found and found[0]["record"]["status"] in TERMINAL:
            return found[0]
        record = JobRecord.from_dict(body["record"])
        record.error = (f"the job runner process (pid {pid}) ended without finishing the job; "
                        f"see {Path(record.job_folder) / launch.RUNNER_LOG}")
        launch.abandon(record.job_folder)
        record.set_status(JobStatus.FAILED)
        body = {**body, "record": record.to_dict()}
        self.store.update_job(name, record.status, body["record"])
        return body


def scoring_step_of(name: str) -> str | None:
    """The job whose scoring step ``name`` names, or None when it names none."""
    parent = name.removesuffix(SCORING_STEP)
    return parent if parent and parent != name else None


def _mini_batch_line(row: str) -> str:
    """A row of the job report (processed_mini-batches.csv) as a sentence."""
    fields = next(csv.reader([row]), [])
    if len(fields) < 10:
        return row
    number, attempts, instance, process, _, elapsed, total, succeeded, _, status = fields[:10]
    error = f": {fields[10]}" if len(fields) > 10 and fields[10] else ""
    return (f"mini-batch {number}: {status} after {attempts} attempt(s), {elapsed} s on "
            f"{instance}/{process}, {succeeded} of {total} file(s) succeeded{error}")


def _read_new_lines(path: Path, offset: int) -> tuple[int, list[str]]:
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return offset, []
    complete = data.rfind(b"\n") + 1
    lines = data[:complete].decode("utf-8", "replace").splitlines()
    return offset + complete, lines
