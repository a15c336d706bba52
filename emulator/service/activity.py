"""What a job did, for the pages that show it (``serve``'s Studio): every attempt of every
mini-batch with its instance, process and times, the job's log files as Azure lays them out,
its output files, and a pipeline's steps with the steps each waits for.

Files of a job are served by relative path, checked to stay inside the job's logs or its
output folder: a page never reads anything else of the home.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from emulator.engine.outputs import ATTEMPTS_FILE
from emulator.exceptions import ResourceNotFoundError
from emulator.jobs import launch
from emulator.jobs.pipeline import PipelinePlan
from emulator.jobs.record import JobRecord
from emulator.service import home

CLI = "batch-emulator ml"
# what invoke can override (--set), compared with the deployment to tell what was overridden
OVERRIDABLE = ("mini_batch_size", "instance_count", "error_threshold", "output_file_name",
               "logging_level")
MAX_ATTEMPTS_SHOWN = 5000  # a timeline of more bars is unreadable; the first ones are kept
LOGS = "logs"


@dataclass(frozen=True)
class AttemptMark:
    mini_batch: int
    attempt: int
    attempts: int  # of this mini-batch, when it was booked
    instance: str
    process: str
    start: float
    elapsed: float
    status: str
    error: str
    files: tuple[str, ...]
    traceback: str = ""

    @property
    def retried(self) -> bool:
        """A failed attempt that another attempt followed."""
        return self.attempt < self.attempts


@dataclass
class JobActivity:
    document: dict  # az ml job show
    record: JobRecord
    attempts: list[AttemptMark] = field(default_factory=list)
    attempts_total: int = 0
    logs: list[str] = field(default_factory=list)  # paths relative to the job folder
    outputs: dict[str, list[str]] = field(default_factory=dict)  # name -> relative files
    steps: list[dict] = field(default_factory=list)  # a pipeline's child jobs, in order
    waits_for: dict[str, list[str]] = field(default_factory=dict)  # step -> steps before it


class ActivityOperations:
    # ================================================================== job activity

    def job_activity(self, name: str) -> JobActivity:
        """Everything the job's page shows, read once."""
        document = self.show_job(name)
        record = self._record_of(name)
        folder = Path(record.job_folder)
        activity = JobActivity(document=document, record=record)
        activity.attempts, activity.attempts_total = _attempts(folder / ATTEMPTS_FILE)
        activity.logs = sorted(path.relative_to(folder).as_posix()
                               for path in (folder / LOGS).rglob("*") if path.is_file())
        for output, root in _output_folders(record).items():
            activity.outputs[output] = sorted(
                path.relative_to(root).as_posix() for path in root.rglob("*")
                if path.is_file() and not path.name.startswith("."))
        if document.get("steps") is not None:
            activity.steps = self.child_jobs(name)
            activity.waits_for = _waits_for(folder)
        return activity

    def job_file(self, name: str, area: str, relative: str) -> Path:
        """A file of the job to show or download: ``area`` is ``logs`` (under its folder) or
        an output's name; never a path outside them."""
        record = self._record_of(name)
        roots = _output_folders(record)
        if area == LOGS:
            root = Path(record.job_folder) / LOGS
        elif area in roots:
            root = roots[area]
        else:
            raise ResourceNotFoundError(f"job {name} has no output named {area!r}")
        path = (root / relative).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            raise ResourceNotFoundError(f"job {name} has no file {relative!r} in {area}")
        return path

    def reproduce_job(self, name: str) -> list[str]:
        """The commands that run this job again and fetch what it made: an endpoint's job is
        invoked again with the settings it overrode; any job is shown and downloaded."""
        document = self.show_job(name)
        record = self._record_of(name)
        commands = []
        endpoint, deployment = record.endpoint_name, record.deployment_name
        if document.get("parent_job_name") or document.get("steps") is not None:
            pass  # a pipeline's file is not kept: show and download it
        elif endpoint and self.endpoint_exists(endpoint) and any(
                found["name"] == deployment for found in self.list_deployments(endpoint)):
            stored = self.show_deployment(deployment, endpoint)
            commands.append(" ".join([
                f"{CLI} batch-endpoint invoke --name {shlex.quote(endpoint)}",
                f"--deployment-name {shlex.quote(deployment)}",
                f"--input {shlex.quote(record.input_path)}",
                f"--input-type {document['inputs']['input_data']['type']}",
                *_overridden(stored.get("settings") or {}, stored.get("resources") or {},
                             record.settings)]))
        else:
            commands.append(f"# run from a deployment YAML: batch-emulator run DEPLOYMENT.yml "
                            f"--input {shlex.quote(record.input_path)}")
        commands.append(f"{CLI} job show --name {shlex.quote(name)}")
        commands.append(f"{CLI} job download --name {shlex.quote(name)} --all")
        return commands

    def studio_sign_in(self, url: str) -> str:
        """The page's URL to open in a browser: with a token when the server listens beyond
        loopback (its pages want one; the page keeps it as a cookie and drops it from the URL)."""
        parts = urlsplit(url)
        if parts.scheme == "file" or home.is_loopback(parts.hostname or ""):
            return url
        token = home.issue_token(self.workspace.home)["accessToken"]
        return f"{url}?token={token}"

    def _record_of(self, name: str) -> JobRecord:
        """The record of a job or of a pipeline's step (a step is a stored job of its own)."""
        found = self.store.get_job(name)
        body = self._reconciled(*found) if found is not None else self._job(name)
        return JobRecord.from_dict(body["record"])


def _overridden(settings: dict, resources: dict, effective: dict) -> list[str]:
    """``--set`` options for the settings the job ran with that its deployment does not have."""
    deployed = {**settings, "instance_count": resources.get("instance_count")}
    options = [f"--set {key}={shlex.quote(str(effective[key]))}" for key in OVERRIDABLE
               if key in effective and deployed.get(key) is not None
               and effective[key] != deployed.get(key)]
    retry, deployed_retry = effective.get("retry_settings") or {}, \
        settings.get("retry_settings") or {}
    options += [f"--set retry_settings.{key}={value}" for key, value in retry.items()
                if deployed_retry.get(key) is not None and deployed_retry.get(key) != value]
    return options


def _attempts(path: Path) -> tuple[list[AttemptMark], int]:
    marks: list[AttemptMark] = []
    total = 0
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                try:
                    values = json.loads(line)
                except ValueError:  # a line being written as we read
                    continue
                total += 1
                if len(marks) < MAX_ATTEMPTS_SHOWN:
                    values["files"] = tuple(values["files"])
                    marks.append(AttemptMark(**values))
    except FileNotFoundError:
        pass
    return marks, total


def _output_folders(record: JobRecord) -> dict[str, Path]:
    named = record.outputs or ({"score": record.output_folder} if record.output_folder else {})
    return {name: Path(folder) for name, folder in named.items() if Path(folder).is_dir()}


def _waits_for(job_folder: Path) -> dict[str, list[str]]:
    try:
        plan = launch.load_plan(job_folder)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(plan, PipelinePlan):
        return {}
    return {step.name: list(step.after) for step in plan.steps}
