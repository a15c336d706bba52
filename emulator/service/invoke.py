"""invoke (a job on an endpoint's deployment) and start_job (a deployment YAML on an input,
without an endpoint): resolve the deployment, locations and compute, prepare, launch."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emulator import settings
from emulator.engine import environments
from emulator.engine.cluster import ClusterSpec
from emulator.engine.environments import EnvironmentSpec
from emulator.exceptions import InputError, NotSupportedError, ResourceNotFoundError, ValidationError
from emulator.jobs.claims import release_output
from emulator.jobs.launch import BatchJob, launch
from emulator.jobs.plan import JobRequest, Location, prepare
from emulator.model import mlflow_models, references, schemas
from emulator.model.loader import load_deployment
from emulator.model.specs import (
    BatchDeployment,
    apply_set_values,
    build_deployment,
    parse_set_item,
)
from emulator.model.uris import DEFAULT_DATASTORE, datastore_uri, is_http_url, strip_type_prefix
from emulator.model.validation import check_job_name
from emulator.service import documents
from emulator.workspace import assets, datastores

NO_ROUTE = ("No valid deployments to route to. Please check that the endpoint has at least one "
            "deployment with positive weight values or use a deployment specific header to route.")
LITERAL_INPUT = ("The specified job input type 'LiteralJobInput' is not supported. The supported "
                 "types are: UriFileJobInput, UriFolderJobInput.")
LITERAL_TYPES = {"string", "integer", "number", "boolean", "literal"}
INVOKE_SET_KEYS = ("mini_batch_size", "instance_count", "output_file_name", "error_threshold",
                   "logging_level", "retry_settings.", "environment_variables.")


class InvokeOperations:
    # ================================================================== invoke

    def invoke(self, endpoint_name: str, *, input: str | None = None,
               input_type: str | None = None, deployment_name: str | None = None,
               job_name: str | None = None, mini_batch_size: int | None = None,
               instance_count: int | None = None, output_path: str | None = None,
               set_values: Iterable[str] = (), inputs_file: str | None = None,
               environment_variables: Mapping[str, str] | None = None,
               named_inputs: Mapping[str, Any] | None = None,
               named_outputs: Mapping[str, Any] | None = None) -> dict:
        """Start a job on the endpoint's default (or the named) deployment; return at once.
        A pipeline deployment takes named inputs and outputs (``named_inputs``, an inputs
        file, ``--set inputs.NAME.value=…``) and starts a pipeline job."""
        body = self.invoke_deployment(endpoint_name, deployment_name)
        if body.get("type") == "pipeline":
            declared = self._component(body["component"]).get("inputs") or {}
            inputs, outputs = self._pipeline_inputs_of(set_values, inputs_file, input,
                                                       input_type, declared)
            return self._invoke_pipeline(body, {**inputs, **(named_inputs or {})},
                                         {**outputs, **(named_outputs or {})}, job_name)
        if named_inputs:
            raise ValidationError("model deployments take one input (input_data), not named "
                                  f"inputs ({', '.join(sorted(named_inputs))})")
        overrides, input, input_type, output_path = self._invoke_overrides(
            set_values, input, input_type, output_path, inputs_file)
        _add_overrides(overrides, mini_batch_size, instance_count, environment_variables)
        if input is None:
            raise ValidationError("the following arguments are required: --input (a folder, a "
                                  "file or a data URI to score)")
        deployment = build_deployment(body, Path("/"))  # validated when it was created
        model = assets.resolve(self.store, "model", body["model"])
        cluster, max_instances, notices = self._cluster_for(body.get("compute"), body)
        request, input_type = self._request(
            deployment, input, input_type, output_path, job_name, overrides, cluster=cluster,
            model_dir=Path(model["local_path"]).parent, max_instances=max_instances,
            environment=self._environment_spec(body, model), notices=notices)
        document, _ = self._start(request, input_type, body.get("compute"),
                                  in_thread=self.jobs_in_threads)
        return document

    def invoke_deployment(self, endpoint_name: str, deployment_name: str | None = None) -> dict:
        """The deployment an invoke of the endpoint runs on: the named one, else the default.
        Checked before anything about inputs, as Azure does: an endpoint without a deployment
        says so, whatever the inputs (the REST front asks first, then reads the body)."""
        endpoint = self._endpoint(endpoint_name)
        deployment_name = deployment_name or (endpoint.get("defaults") or {}).get(
            "deployment_name")
        if not deployment_name:
            raise ValidationError(NO_ROUTE)
        body = self.store.get("deployment", deployment_name, parent=endpoint["name"])
        if body is None:
            raise ResourceNotFoundError(f"Deployment name {deployment_name} not found for this "
                                        f"endpoint ({endpoint['name']}); see 'batch-deployment list'")
        return body

    def start_job(self, deployment: str | Path | BatchDeployment, input: str | Path, *,
                  output_path: str | Path | None = None, job_name: str | None = None,
                  mini_batch_size: int | None = None, instance_count: int | None = None,
                  overrides: Mapping[str, Any] | None = None, set_values: Iterable[str] = (),
                  scheduler_address: str | None = None,
                  skip_script_validation: bool = False) -> BatchJob:
        """Run a deployment YAML on an input in a thread of this process, without an
        endpoint (``run_batch_job``, ``batch-emulator run``, ``demo``); the job is in the
        store like every other. ``scheduler_address``: an existing Dask scheduler."""
        if not isinstance(deployment, BatchDeployment):
            deployment = load_deployment(deployment, set_values,
                                         skip_script_validation=skip_script_validation)
        overrides = dict(overrides or {})
        _add_overrides(overrides, mini_batch_size, instance_count, None)
        model_dir = None
        if deployment.model.reference:  # a model registered in this workspace
            model = assets.resolve(self.store, "model", deployment.model.reference)
            model_dir = Path(model["local_path"]).parent
        notices = []
        if deployment.compute and scheduler_address is None:
            notices.append(f"compute {deployment.compute} is not registered here; running on a "
                           "local Dask cluster")
        request, input_type = self._request(
            deployment, str(input), None, None if output_path is None else str(output_path),
            job_name, overrides, cluster=ClusterSpec(scheduler_address=scheduler_address),
            model_dir=model_dir, environment=self._environment_of(deployment), notices=notices)
        _, job = self._start(request, input_type, deployment.compute, in_thread=True)
        assert job is not None
        return job

    def _request(self, deployment: BatchDeployment, input: str, input_type: str | None,
                 output_path: str | None, job_name: str | None, overrides: dict,
                 **resolved: Any) -> tuple[JobRequest, str]:
        name = job_name or f"batchjob-{uuid.uuid4()}"
        check_job_name(name)  # before the name makes the default output path
        input_location, input_type = self._input(input, input_type)
        # Azure's default output place: the workspace blob store, azureml/<job>/score/
        output = self._location(output_path or datastore_uri(DEFAULT_DATASTORE,
                                                             f"azureml/{name}/score/"))
        return JobRequest(deployment=deployment, job_name=name, input=input_location,
                          output=output, overrides=overrides,
                          in_process=self.in_process_scoring, **resolved), input_type

    def _start(self, request: JobRequest, input_type: str, compute: str | None,
               in_thread: bool) -> tuple[dict, BatchJob | None]:
        plan, record = prepare(request, self.workspace)
        body = {"compute": compute, "input_type": input_type, "created_by": settings.user()}
        try:
            job = launch(self.store, plan, record, body, in_thread)
        except ValidationError:  # the name is taken in the store: leave nothing behind
            release_output(plan.output, plan.settings, plan.job_name)
            shutil.rmtree(plan.job_dir, ignore_errors=True)
            raise
        self.warnings.extend(record.notices)
        return documents.job(self.store, {**body, "record": record.to_dict()}), job

    def _environment_of(self, deployment: BatchDeployment) -> EnvironmentSpec | None:
        """The requirements of a deployment read straight from its YAML (start_job)."""
        environment = deployment.environment
        conda_file = None
        if isinstance(environment, dict) and environment.get("conda_file"):
            base = deployment.source.parent if deployment.source else Path.cwd()
            conda_file = (base / environment["conda_file"]).resolve()
        mlflow_model = None
        if deployment.code_configuration is None and deployment.model.path is not None:
            mlflow_model = mlflow_models.model_root(deployment.model.path)
        return environments.spec_for(self.workspace.home, conda_file, mlflow_model)

    def _environment_spec(self, deployment: dict, model: dict) -> EnvironmentSpec | None:
        """The requirements of a stored deployment: its registered environment's conda
        file, else an MLflow model's own."""
        conda_file = mlflow_model = None
        if deployment.get("environment"):
            environment = assets.resolve(self.store, "environment", deployment["environment"])
            if environment.get("local_path"):
                conda_file = Path(environment["local_path"])
        elif deployment.get("code_configuration") is None:
            mlflow_model = mlflow_models.model_root(Path(model["local_path"]))
        return environments.spec_for(self.workspace.home, conda_file, mlflow_model)

    def _invoke_overrides(self, set_values, input, input_type, output_path, inputs_file):
        """Split ``--set`` items into settings overrides and named inputs/outputs."""
        overrides: dict[str, Any] = {}
        named = apply_set_values({}, [v for v in set_values
                                      if v.startswith(("inputs.", "outputs."))])
        for item in set_values:
            key, value = parse_set_item(item)
            if key.startswith(("inputs.", "outputs.")):
                continue
            if not key.startswith(INVOKE_SET_KEYS):
                raise ValidationError(f"--set {key}: invoke can override "
                                      "mini_batch_size, instance_count, output_file_name, "
                                      "error_threshold, logging_level, retry_settings.max_retries, "
                                      "retry_settings.timeout and environment_variables.NAME")
            overrides[key] = value
        if inputs_file:
            named = {**named, **(schemas.load_document(inputs_file).data or {})}
        declared = list((named.get("inputs") or {}).values())
        for spec in declared:
            if not isinstance(spec, dict):
                raise ValidationError(LITERAL_INPUT)
            if str(spec.get("type") or "").lower() in LITERAL_TYPES:
                raise ValidationError(LITERAL_INPUT)
        if len(declared) + (input is not None) > 1:
            raise ValidationError("model deployments take exactly one input; pass one --input")
        if declared:
            input, input_type = declared[0].get("path"), declared[0].get("type")
        score = ((named.get("outputs") or {}).get("score") or {})
        output_path = output_path or score.get("path")
        if input_type and input_type.lower() in LITERAL_TYPES:
            raise ValidationError(LITERAL_INPUT)
        return overrides, input, input_type, output_path

    def _input(self, uri: str, input_type: str | None) -> tuple[Location, str]:
        """The input's location and type (``uri_folder``/``uri_file``), checked to exist."""
        given = str(uri)
        if given.startswith("file:") and not given.startswith("file://"):
            input_type = input_type or "uri_file"
        elif given.startswith("folder:"):
            input_type = input_type or "uri_folder"
        uri = target = strip_type_prefix(given)
        location = None
        if references.is_reference(uri):
            asset = assets.resolve(self.store, "data", uri)
            if asset.get("local_path"):
                location = Location(given, path=Path(asset["local_path"]))
            target = asset["path"]
            input_type = input_type or asset["type"]
        if input_type == "mltable":
            raise NotSupportedError("Data assets of type Table (MLTable) aren't currently "
                                    "supported by batch endpoints; use uri_folder or uri_file")
        if input_type not in (None, "uri_folder", "uri_file"):
            raise ValidationError(f"--input-type {input_type!r}: use uri_folder or uri_file")
        if location is None and is_http_url(target):  # read where it is, checked here
            store, prefix, input_type = datastores.public_input(target, input_type)
            location = Location(given, store=store.to_dict(), prefix=prefix)
        elif location is None:
            location = self._location(target)
        if location.store is not None:
            if not datastores.exists(location.remote, location.prefix):
                where = "at its URL" if is_http_url(target) else "in its datastore"
                raise InputError(f"input {given} does not exist {where}; upload the data or "
                                 "fix the path")
            return Location(given, store=location.store, prefix=location.prefix), \
                input_type or "uri_folder"
        path = Path(os.path.realpath(location.path))  # never raises, even on a link loop
        if path.exists():
            actual = "uri_folder" if path.is_dir() else "uri_file"
            if input_type and input_type != actual:
                raise InputError(f"input {uri} is a {'folder' if path.is_dir() else 'file'}; "
                                 f"use --input-type {actual}")
            input_type = actual
        return Location(given, path=path), input_type or "uri_folder"

    def _cluster_for(self, compute: str | None, deployment: dict,
                     warm: bool = True) -> tuple[ClusterSpec, int | None, list[str]]:
        """Where a job runs. ``warm``: a job carried by a runner process may run on a warm
        compute (its host carries it instead); a job in a thread of this process, or a
        pipeline (whose steps share one cluster), has a cluster of its own."""
        if not compute:
            return ClusterSpec(), None, []
        body = self.store.get("compute", references.compute_name(compute))
        if body is None:
            return ClusterSpec(), None, [f"compute {compute} is not registered; running on a "
                                         "local Dask cluster"]
        if body["type"] == "dask":
            return ClusterSpec(scheduler_address=body["scheduler_address"]), None, []
        if body["type"] == "amlcompute":
            warm_compute = self.warm_compute(compute) if warm and not self.jobs_in_threads \
                else None
            return ClusterSpec(warm_compute=warm_compute), int(body["max_instances"]), []
        image = None
        if deployment.get("environment"):
            image = assets.resolve(self.store, "environment", deployment["environment"]).get(
                "image")
        return ClusterSpec(kubernetes={"image": image, "namespace": body["namespace"],
                                       "resources": body.get("resources")}), None, []


def _add_overrides(overrides: dict, mini_batch_size: int | None, instance_count: int | None,
                   environment_variables: Mapping[str, str] | None) -> None:
    if mini_batch_size is not None:
        overrides["mini_batch_size"] = mini_batch_size
    if instance_count is not None:
        overrides["instance_count"] = instance_count
    for key, value in (environment_variables or {}).items():
        overrides[f"environment_variables.{key}"] = str(value)
