"""job show/list/stream/download/cancel; a job whose runner died is shown Failed."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.jobs import launch
from emulator.jobs.record import TERMINAL, JobRecord, JobStatus
from emulator.service import documents


class JobOperations:
    # ================================================================== jobs

    def show_job(self, name: str) -> dict:
        return documents.job(self.store, self._job(name))

    def list_jobs(self, endpoint_name: str | None = None, deployment_name: str | None = None,
                  max_results: int | None = None) -> list[dict]:
        if endpoint_name is not None:
            endpoint_name = self._endpoint(endpoint_name)["name"]
            if deployment_name is not None:
                self._deployment(deployment_name, endpoint_name)
        rows = self.store.list_jobs(endpoint_name=endpoint_name, deployment_name=deployment_name)
        jobs = [documents.job(self.store, self._reconciled(body, pid)) for body, pid in rows]
        return jobs[:max_results] if max_results else jobs

    def cancel_job(self, name: str) -> dict:
        body = self._job(name)
        record = JobRecord.from_dict(body["record"])
        if record.status in TERMINAL:
            self.warnings.append(f"job {name} already ended ({record.status}); nothing to cancel")
            return documents.job(self.store, body)
        launch.request_cancel(record.job_folder)
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
        body = self._job(name)
        record = JobRecord.from_dict(body["record"])
        overview = Path(record.job_folder) / "logs" / "job_progress_overview.txt"
        yield f"RunId: {record.name}"
        yield f"Web View: {Path(record.job_folder).as_uri()}"
        yield ""
        yield "Streaming logs/job_progress_overview.txt"
        yield "========================================"
        offset = 0
        for _body in self._follow(name, poll):
            offset, lines = _read_new_lines(overview, offset)
            yield from lines
        offset, lines = _read_new_lines(overview, offset)
        yield from lines
        final = JobRecord.from_dict(self._job(name)["record"])
        yield ""
        yield "Execution Summary"
        yield "================="
        yield f"RunId: {final.name}"
        yield f"Status: {final.status}"
        if final.error:
            yield f"Error: {final.error}"

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
        if output_name not in (None, "score"):
            raise ResourceNotFoundError(f"job {name} has no output named {output_name!r}; batch "
                                        "model jobs have one output: score")
        if output_name or all_outputs:
            copies.append((Path(record.output_folder), target / "named-outputs" / "score"))
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
        found = self.store.get_job(name)
        if found is None:
            raise ResourceNotFoundError(f"job {name!r} does not exist in workspace "
                                        f"{self.workspace.name!r}; see 'batch-emulator ml job list'")
        return self._reconciled(*found)

    def _reconciled(self, body: dict, pid: int | None) -> dict:
        """A job whose runner died is shown (and recorded) Failed, never Running forever."""
        status = body["record"]["status"]
        name = body["record"]["name"]
        if status in TERMINAL or launch.runner_alive(body["record"]["job_folder"]):
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
        self.store.update_job(name, record.status, body)
        return body


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
