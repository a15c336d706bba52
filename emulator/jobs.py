"""The Python entry point: run a batch job from a deployment YAML and an input path.

    from emulator import run_batch_job
    job = run_batch_job("deployment.yml", "data/", overrides={"mini_batch_size": 5})
    assert job.status == "Completed", job.error

The CLI and the pytest plugin build on this; the engine never learns how a job was asked for.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emulator import datastores, environments, mlflow_models
from emulator.datastores import RemoteStore
from emulator.engine import record as status
from emulator.engine.cluster import ClusterSpec
from emulator.engine.outputs import check_output_available
from emulator.engine.record import JobRecord
from emulator.engine.runner import JobPlan, execute
from emulator.environments import EnvironmentSpec
from emulator.exceptions import (
    InputError,
    ResourceNotFoundError,
    ValidationError,
)
from emulator.specs import BatchDeployment, load_deployment, validate_invoke_overrides
from emulator.uris import datastore_uri, to_local_path
from emulator.workspace import DEFAULT_DATASTORE, Workspace

CANCEL_REQUEST_FILE = "cancel_requested"


class BatchJob:
    """A job running in a background thread of this process."""

    def __init__(self, plan: JobPlan, record: JobRecord):
        self.plan = plan
        self.record = record
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{record.name}", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self.record.name

    def _run(self) -> None:
        execute(self.plan, self.record, self._should_stop)

    def _should_stop(self) -> bool:
        return self._cancel.is_set() or (self.plan.job_dir / CANCEL_REQUEST_FILE).exists()

    def cancel(self) -> None:
        """Stop the job: running scoring processes are killed, no results file is left."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> JobRecord:
        """The final record; ``TimeoutError`` if the job is still running after ``timeout``."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"job {self.name} still {self.record.status} after {timeout} s")
        return self.record


def request_cancel(job_folder: str | Path) -> None:
    """Ask a job running in another process to stop (it polls for this file)."""
    (Path(job_folder) / CANCEL_REQUEST_FILE).touch()


def start_batch_job(
    deployment: str | os.PathLike | BatchDeployment,
    input: str | os.PathLike,
    *,
    output_path: str | os.PathLike | None = None,
    job_name: str | None = None,
    mini_batch_size: int | None = None,
    instance_count: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    set_values: Iterable[str] = (),
    home: str | os.PathLike | None = None,
    workspace: str | None = None,
    scheduler_address: str | None = None,
    skip_script_validation: bool = False,
) -> BatchJob:
    """Validate everything, create the job (status ``Queued``) and run it in the background.

    ``overrides`` are the invoke-time overrides of ``az ml batch-endpoint invoke`` as dotted
    keys (``{"retry_settings.timeout": 2, "error_threshold": 0}``); ``set_values`` are
    ``--set path=value`` strings applied to the deployment YAML before it is validated.
    ``scheduler_address`` runs on an existing Dask scheduler instead of a new LocalCluster.
    """
    ws = Workspace.open(home, workspace)
    if not isinstance(deployment, BatchDeployment):
        deployment = load_deployment(deployment, set_values, skip_script_validation)
    overrides = dict(overrides or {})
    if mini_batch_size is not None:
        overrides["mini_batch_size"] = mini_batch_size
    if instance_count is not None:
        overrides["instance_count"] = instance_count
    notices = []
    environment = _environment_of(deployment, ws)
    if deployment.compute and scheduler_address is None:
        notices.append(f"compute {deployment.compute} is not registered here; running on a "
                       "local Dask cluster")
    output_uri = None if output_path is None else str(output_path)
    plan, job = prepare_job(
        deployment, to_local_path(str(input), ws), ws, overrides=overrides, job_name=job_name,
        output_uri=output_uri, output_dir=None if output_uri is None else to_local_path(
            output_uri, ws), cluster=ClusterSpec(scheduler_address=scheduler_address),
        notices=notices, environment=environment)
    job.save()
    return BatchJob(plan, job)


def prepare_job(
    deployment: BatchDeployment,
    input_path: Path,
    ws: Workspace,
    *,
    overrides: Mapping[str, Any],
    job_name: str | None,
    output_uri: str | None,
    output_dir: Path | None,
    cluster: ClusterSpec,
    model_dir: Path | None = None,
    max_instances: int | None = None,
    notices: Iterable[str] = (),
    input_uri: str | None = None,
    environment: EnvironmentSpec | None = None,
    input_store: RemoteStore | None = None,
    input_prefix: str = "",
    output_store: RemoteStore | None = None,
    output_prefix: str = "",
) -> tuple[JobPlan, JobRecord]:
    """Check a job request up front and create its folder and record (status ``Queued``).

    Everything that can be refused is refused here, before anything is written: invalid
    overrides, a missing or empty input, an existing output, a duplicate job name.
    ``model_dir`` is a registered model's folder; without it the deployment's local model
    is linked into the job folder. ``max_instances`` caps ``instance_count`` (amlcompute).
    """
    checked = validate_invoke_overrides(overrides)
    settings = deployment.settings.with_overrides(checked)
    instances = int(checked.get("instance_count", deployment.instance_count))
    notices = list(notices)
    if max_instances is not None and instances > max_instances:
        notices.append(f"instance_count={instances} capped at the compute's "
                       f"max_instances={max_instances}")
        instances = max_instances
    if model_dir is None:
        _check_model(deployment)
    model_source = deployment.model.path if model_dir is None else _single_entry(model_dir)
    if deployment.code_configuration is not None:
        code_dir = deployment.code_configuration.code
        scoring_script = deployment.code_configuration.script_path
    elif mlflow_models.is_mlflow_model(model_source):
        mlflow_models.require_pyfunc(model_source, deployment.model.name or deployment.name)
        code_dir = mlflow_models.DRIVER_DIR
        scoring_script = mlflow_models.DRIVER_DIR / mlflow_models.DRIVER_SCRIPT
    else:
        raise ValidationError(f"deployment {deployment.name!r} has no code_configuration and its "
                              "model is not an MLflow model; add code_configuration (code and "
                              "scoring_script)")
    if environment is not None and environment.mode == environments.CURRENT:
        notices.extend(f"requirement check: {problem}" for problem in environments.check(environment))
    input_path = input_path.resolve()
    if input_store is None:
        _check_input(input_path)

    name = job_name or f"batchjob-{uuid.uuid4()}"
    job_dir = ws.job_dir(name)
    if job_dir.exists():
        raise ValidationError(f"a job named {name!r} already exists in workspace "
                              f"{ws.name!r}; choose another --job-name")
    if output_uri is None:
        output_uri = datastore_uri(DEFAULT_DATASTORE, f"azureml/{name}/score/")
        output_dir = to_local_path(output_uri, ws)
    if output_store is not None:  # staged here, published to the object store at the end
        output_dir = job_dir / "outputs" / "score"
    output_dir = Path(output_dir).resolve()
    check_output_available(output_dir, settings.output_action, settings.output_file_name)
    if output_store is not None:
        datastores.check_output_available(output_store, output_prefix, settings.output_action,
                                          settings.output_file_name)
    try:
        job_dir.mkdir(parents=True)
    except FileExistsError:
        raise ValidationError(f"a job named {name!r} already exists in workspace "
                              f"{ws.name!r}; choose another --job-name") from None
    if model_dir is None:
        model_dir = _link_model(deployment, job_dir)

    job = JobRecord(
        name=name, job_folder=str(job_dir), deployment_name=deployment.name,
        endpoint_name=deployment.endpoint_name or "", input_path=input_uri or str(input_path),
        output_uri=output_uri, output_folder=str(output_dir),
        output_action=settings.output_action, settings=_settings_dict(settings, instances),
        notices=notices)
    plan = JobPlan(
        job_name=name, job_dir=job_dir, input_path=input_path, output_dir=output_dir,
        code_dir=code_dir, scoring_script=scoring_script,
        model_dir=model_dir, settings=settings, instance_count=instances, cluster=cluster,
        environment=environment.to_dict() if environment else None, home=str(ws.home),
        input_store=input_store.to_dict() if input_store else None, input_prefix=input_prefix,
        output_store=output_store.to_dict() if output_store else None,
        output_prefix=output_prefix,
    )
    job.set_status(status.QUEUED)
    return plan, job


def run_batch_job(deployment, input, *, timeout: float | None = None, **options) -> JobRecord:
    """``start_batch_job`` and wait for the final record (see there for the options)."""
    job = start_batch_job(deployment, input, **options)
    try:
        return job.wait(timeout)
    except TimeoutError:
        job.cancel()
        job.wait(60)
        raise


def _check_input(path: Path) -> None:
    if not path.exists():
        raise InputError(f"input path {path} does not exist; pass an existing file or folder")
    if path.is_dir() and not _has_visible_file(path):
        raise InputError(f"input folder {path} holds no files to score (hidden files are "
                         "skipped); put the data files in it or pass another --input")


def _has_visible_file(folder: Path) -> bool:
    for _root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(not f.startswith(".") for f in files):
            return True
    return False


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


def _environment_of(deployment: BatchDeployment, ws: Workspace) -> EnvironmentSpec | None:
    """The requirements of a deployment read straight from its YAML (no workspace store)."""
    environment = deployment.environment
    conda_file = None
    if isinstance(environment, dict) and environment.get("conda_file"):
        base = deployment.source.parent if deployment.source else Path.cwd()
        conda_file = (base / environment["conda_file"]).resolve()
    mlflow_model = None
    if deployment.code_configuration is None and deployment.model.path is not None:
        mlflow_model = mlflow_models.model_root(deployment.model.path)
    return environments.spec_for(ws.home, conda_file, mlflow_model)


def _settings_dict(settings, instance_count: int) -> dict[str, Any]:
    values = dataclasses.asdict(settings)
    values["environment_variables"] = dict(settings.environment_variables)
    values["instance_count"] = instance_count
    return values
