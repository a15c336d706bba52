"""A job request checked up front and turned into a plan (what the runner executes) and a
record (what readers see), before anything of the job is written.

Everything that can be refused is refused in :func:`prepare`: invalid overrides, a missing or
empty input, an existing output, a duplicate job name, a model without a way to score it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.engine import environments, outputs
from emulator.engine.cluster import ClusterSpec
from emulator.engine.environments import EnvironmentSpec
from emulator.engine.partition import list_input_files
from emulator.exceptions import InputError, ResourceNotFoundError, ValidationError
from emulator.jobs.claims import claim_output, release_output
from emulator.jobs.record import JobRecord, JobStatus
from emulator.model import mlflow_models
from emulator.model.specs import (
    BatchDeployment,
    BatchDeploymentSettings,
    RetrySettings,
    validate_invoke_overrides,
)
from emulator.model.validation import check_job_name
from emulator.settings import max_local_instances
from emulator.workspace import Workspace, datastores
from emulator.workspace.datastores import RemoteStore


@dataclass(frozen=True)
class Location:
    """Where a job reads its input or writes its output: a local ``path``, or keys under
    ``prefix`` in an object ``store`` (a ``RemoteStore`` as a dict, so a plan stays JSON): a
    datastore, a public Azure Blob container or, for an input, the file behind an http(s) URL.
    An output on an object store also has a local ``path``: the staging folder it is
    published from. ``uri`` is the location as the user gave it."""

    uri: str
    path: Path | None = None
    store: dict | None = None
    prefix: str = ""

    @property
    def remote(self) -> RemoteStore | None:
        return RemoteStore.from_dict(self.store)

    def to_dict(self) -> dict:
        return {"uri": self.uri, "path": None if self.path is None else str(self.path),
                "store": self.store, "prefix": self.prefix}

    @classmethod
    def from_dict(cls, values: dict) -> Location:
        path = values.get("path")
        return cls(values["uri"], None if path is None else Path(path), values.get("store"),
                   values.get("prefix", ""))


@dataclass(frozen=True)
class JobPlan:
    """A job as the runner sees it: resolved locations and final settings."""

    job_name: str
    job_dir: Path
    input: Location
    output: Location
    code_dir: Path
    scoring_script: Path
    model_dir: Path
    settings: BatchDeploymentSettings
    instance_count: int
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    python: str = ""  # the scoring processes' interpreter; "" is the runner's own
    environment: dict | None = None  # an EnvironmentSpec; isolated mode builds a venv for it
    home: str = ""  # where isolated environments are cached
    in_process: bool = False  # score in the Dask worker's process (needs an in-process cluster)

    @property
    def output_dir(self) -> Path:
        assert self.output.path is not None  # every output has a local (or staging) folder
        return self.output.path

    def to_dict(self) -> dict:
        """JSON-ready, for a job runner in another process (``from_dict`` reverses it)."""
        values = dataclasses.asdict(self)
        for key, value in values.items():
            if isinstance(value, Path):
                values[key] = str(value)
        values["input"], values["output"] = self.input.to_dict(), self.output.to_dict()
        values["settings"]["environment_variables"] = dict(self.settings.environment_variables)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> JobPlan:
        values = dict(values)
        for key in ("job_dir", "code_dir", "scoring_script", "model_dir"):
            values[key] = Path(values[key])
        values["input"] = Location.from_dict(values["input"])
        values["output"] = Location.from_dict(values["output"])
        settings = dict(values["settings"])
        settings["retry_settings"] = RetrySettings(**settings["retry_settings"])
        values["settings"] = BatchDeploymentSettings(**settings)
        values["cluster"] = ClusterSpec(**values["cluster"])
        return cls(**values)


@dataclass
class JobRequest:
    """What a front end asks for, resolved by the service to deployments and locations."""

    deployment: BatchDeployment
    job_name: str
    input: Location
    output: Location
    overrides: Mapping[str, Any] = field(default_factory=dict)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    model_dir: Path | None = None  # a registered model's folder; None: the deployment's own
    max_instances: int | None = None  # amlcompute caps instance_count at it
    environment: EnvironmentSpec | None = None
    notices: list[str] = field(default_factory=list)
    in_process: bool = False


def prepare(request: JobRequest, workspace: Workspace) -> tuple[JobPlan, JobRecord]:
    """Check the request and create the job's folder and record (status ``Queued``)."""
    deployment = request.deployment
    check_job_name(request.job_name)
    checked = validate_invoke_overrides(request.overrides)
    settings = deployment.settings.with_overrides(checked)
    notices = list(request.notices)
    instances = _instance_count(request, int(checked.get("instance_count",
                                                         deployment.instance_count)), notices)
    if request.model_dir is None:
        _check_model(deployment)
    code_dir, scoring_script = _scoring_entry(deployment, request.model_dir)
    if request.environment is not None and request.environment.mode == environments.CURRENT:
        notices.extend(f"requirement check: {problem}"
                       for problem in environments.check(request.environment))
    if request.in_process:
        # the in-process scorer (the scoring side's bootstrap, logging) only when it is asked for
        from emulator.engine.inprocess import LIMITS as IN_PROCESS_LIMITS

        notices.extend(IN_PROCESS_LIMITS)
    if request.input.store is None:
        _check_input(request.input.path)

    name = request.job_name
    job_dir = workspace.job_dir(name)
    if job_dir.exists():
        raise _duplicate(name, workspace)
    output = request.output
    if output.store is not None:  # staged in the job folder, published at the end
        output = dataclasses.replace(output, path=job_dir / "outputs" / "score")
    output = dataclasses.replace(output, path=Path(os.path.realpath(output.path)))
    check_output_available(output, settings)
    claim_output(output, settings, name)
    try:
        job_dir.mkdir(parents=True)
    except FileExistsError:
        release_output(output, settings, name)
        raise _duplicate(name, workspace) from None
    model_dir = request.model_dir or _link_model(deployment, job_dir)
    record = JobRecord(
        name=name, job_folder=str(job_dir), deployment_name=deployment.name,
        endpoint_name=deployment.endpoint_name or "", input_path=request.input.uri,
        output_uri=output.uri, output_folder=str(output.path),
        output_action=settings.output_action, settings=_settings_dict(settings, instances),
        notices=notices)
    plan = JobPlan(
        job_name=name, job_dir=job_dir, input=request.input, output=output,
        code_dir=code_dir, scoring_script=scoring_script, model_dir=model_dir,
        settings=settings, instance_count=instances, cluster=request.cluster,
        environment=request.environment.to_dict() if request.environment else None,
        home=str(workspace.home), in_process=request.in_process)
    record.set_status(JobStatus.QUEUED)
    return plan, record


def _instance_count(request: JobRequest, asked: int, notices: list[str]) -> int:
    """``instance_count``, capped at the compute's ``max_instances`` and, for a cluster of
    this machine, at its ceiling; each cap said in a notice."""
    instances = asked
    if request.max_instances is not None and instances > request.max_instances:
        notices.append(f"instance_count={instances} capped at the compute's "
                       f"max_instances={request.max_instances}")
        instances = request.max_instances
    if request.cluster.local and instances > max_local_instances():
        notices.append(f"instance_count={instances} capped at {max_local_instances()} local "
                       "workers, this machine's ceiling (BATCH_EMULATOR_MAX_LOCAL_INSTANCES)")
        instances = max_local_instances()
    return instances


def _duplicate(name: str, workspace: Workspace) -> ValidationError:
    return ValidationError(f"a job named {name!r} already exists in workspace "
                           f"{workspace.name!r}; choose another --job-name")


def check_output_available(output: Location, settings: BatchDeploymentSettings) -> None:
    """Output uniqueness, checked when the job is asked for and again when it starts."""
    outputs.check_output_available(output.path, settings.output_action,
                                   settings.output_file_name)
    if output.remote is not None:
        datastores.check_output_available(output.remote, output.prefix, settings.output_action,
                                          settings.output_file_name)


def _scoring_entry(deployment: BatchDeployment, model_dir: Path | None) -> tuple[Path, Path]:
    """The code folder and scoring script: the deployment's, or the MLflow driver's."""
    if deployment.code_configuration is not None:
        return deployment.code_configuration.code, deployment.code_configuration.script_path
    model_source = deployment.model.path if model_dir is None else _single_entry(model_dir)
    if not mlflow_models.is_mlflow_model(model_source):
        raise ValidationError(f"deployment {deployment.name!r} has no code_configuration and its "
                              "model is not an MLflow model; add code_configuration (code and "
                              "scoring_script)")
    mlflow_models.require_pyfunc(model_source, deployment.model.name or deployment.name)
    return mlflow_models.DRIVER_DIR, mlflow_models.DRIVER_DIR / mlflow_models.DRIVER_SCRIPT


def _check_input(path: Path | None) -> None:
    """The input is listed as the job will list it, so that a missing, empty or unreadable
    input (a broken link, a link loop, no permission) is refused before the job exists."""
    if path is None:
        raise InputError("the job has no input; pass --input")
    list_input_files(path)


def _single_entry(model_dir: Path) -> Path:
    entries = sorted(model_dir.iterdir())
    return entries[0] if len(entries) == 1 else model_dir


def _check_model(deployment: BatchDeployment) -> None:
    model = deployment.model
    if model.path is None:
        raise ResourceNotFoundError(
            f"model {model.reference} is a registered model, which needs a workspace; "
            "give the model inline instead, e.g. model: {path: ./model}")
    if not model.path.exists():
        raise InputError(f"model path {model.path} does not exist; fix model.path "
                         "(relative to the deployment YAML)")


def _link_model(deployment: BatchDeployment, job_dir: Path) -> Path:
    """A folder holding the model under its original base name, for AZUREML_MODEL_DIR."""
    path = deployment.model.path
    model_dir = job_dir / "azureml-models"
    model_dir.mkdir()
    (model_dir / path.name).symlink_to(path, target_is_directory=path.is_dir())
    return model_dir


def _settings_dict(settings: BatchDeploymentSettings, instance_count: int) -> dict[str, Any]:
    values = dataclasses.asdict(settings)
    values["environment_variables"] = dict(settings.environment_variables)
    values["instance_count"] = instance_count
    return values
