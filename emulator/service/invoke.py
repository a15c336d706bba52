"""invoke: resolve the deployment, input, output and compute; create the job; launch its runner."""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from emulator import assets, datastores, documents, environments, job_runner, mlflow_models, schemas
from emulator.engine import inprocess
from emulator.engine.cluster import ClusterSpec
from emulator.engine.record import JobRecord
from emulator.exceptions import InputError, NotSupportedError, ResourceNotFoundError, ValidationError
from emulator.jobs import prepare_job
from emulator.specs import apply_set_values, build_deployment
from emulator.uris import datastore_uri, parse_datastore_uri, strip_type_prefix, to_local_path
from emulator.workspace import DEFAULT_DATASTORE

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
               environment_variables: Mapping[str, str] | None = None) -> dict:
        """Start a job on the endpoint's default (or the named) deployment; return at once."""
        endpoint = self._endpoint(endpoint_name)
        deployment_name = deployment_name or (endpoint.get("defaults") or {}).get(
            "deployment_name")
        if not deployment_name:
            raise ValidationError(NO_ROUTE)
        body = self.store.get("deployment", deployment_name, parent=endpoint["name"])
        if body is None:
            raise ResourceNotFoundError(f"Deployment name {deployment_name} not found for this "
                                        f"endpoint ({endpoint['name']}); see 'batch-deployment list'")
        overrides, input, input_type, output_path = self._invoke_overrides(
            set_values, input, input_type, output_path, inputs_file)
        if mini_batch_size is not None:
            overrides["mini_batch_size"] = mini_batch_size
        if instance_count is not None:
            overrides["instance_count"] = instance_count
        for key, value in (environment_variables or {}).items():
            overrides[f"environment_variables.{key}"] = str(value)
        if input is None:
            raise ValidationError("the following arguments are required: --input (a folder, a "
                                  "file or a data URI to score)")
        remote_input = self._remote(input)
        if remote_input:
            input_path, input_type = Path("/"), input_type or "uri_folder"
            if not datastores.exists(*remote_input):
                raise InputError(f"input {input} does not exist in its datastore; upload the "
                                 "data or fix the path")
        else:
            input_path, input_type = self._resolve_input(input, input_type)
        deployment = build_deployment(body, Path("/"))
        model = assets.resolve(self.store, "model", body["model"])
        cluster, max_instances, notices = self._cluster_for(body.get("compute"), body)
        output_uri = output_dir = remote_output = None
        if not output_path and self.blob_store() is not None:  # Azure's default output place
            job_name = job_name or f"batchjob-{uuid.uuid4()}"
            output_path = datastore_uri(DEFAULT_DATASTORE, f"azureml/{job_name}/score/")
        if output_path:
            output_uri = strip_type_prefix(output_path)
            remote_output = self._remote(output_uri)
            output_dir = None if remote_output else self._local_path(output_uri)
        plan, record = prepare_job(
            deployment, input_path, self.workspace, overrides=overrides, job_name=job_name,
            output_uri=output_uri, output_dir=output_dir, cluster=cluster,
            model_dir=Path(model["local_path"]).parent, max_instances=max_instances,
            notices=notices, input_uri=input, environment=self._environment_spec(body, model),
            input_store=remote_input[0] if remote_input else None,
            input_prefix=remote_input[1] if remote_input else "",
            output_store=remote_output[0] if remote_output else None,
            output_prefix=remote_output[1] if remote_output else "")
        record.endpoint_name = endpoint["name"]
        return self._launch(plan, record, body, input_type)

    def _launch(self, plan, record: JobRecord, deployment: dict, input_type: str) -> dict:
        import json

        job_dir = Path(record.job_folder)
        if self.in_process_scoring:
            plan = dataclasses.replace(plan, in_process=True)
            record.notices.extend(inprocess.LIMITS)
        (job_dir / job_runner.PLAN_FILE).write_text(json.dumps(plan.to_dict(), indent=2))
        record.save()
        body = {"record": record.to_dict(), "compute": deployment.get("compute"),
                "input_type": input_type, "created_by": os.environ.get("USER", "local-user")}
        if not self.store.insert_job(record.name, record.endpoint_name, record.deployment_name,
                                     record.status, body):
            shutil.rmtree(job_dir, ignore_errors=True)
            raise ValidationError(f"a job named {record.name!r} already exists in workspace "
                                  f"{self.workspace.name!r}; choose another --job-name")
        if self.jobs_in_threads:
            job_runner.start_thread(self.store, plan, body)
            pid = os.getpid()
        else:
            pid = job_runner.spawn(self.workspace, job_dir, record.name)
        self.store.set_job_runner(record.name, pid)
        for notice in record.notices:
            self.warnings.append(notice)
        return documents.job(self.store, body)

    def _environment_spec(self, deployment: dict, model: dict):
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
            key, _, raw = item.partition("=")
            key = key.strip()
            if key.startswith(("inputs.", "outputs.")):
                continue
            if not key.startswith(INVOKE_SET_KEYS):
                raise ValidationError(f"--set {item!r}: invoke can override "
                                      "mini_batch_size, instance_count, output_file_name, "
                                      "error_threshold, logging_level, retry_settings.max_retries, "
                                      "retry_settings.timeout and environment_variables.NAME")
            overrides[key] = yaml.safe_load(raw) if raw.strip() else ""
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

    def _resolve_input(self, uri: str, input_type: str | None) -> tuple[Path, str]:
        uri = str(uri)
        if uri.startswith("file:") and not uri.startswith("file://"):
            input_type = input_type or "uri_file"
        elif uri.startswith("folder:"):
            input_type = input_type or "uri_folder"
        uri = strip_type_prefix(uri)
        if assets.is_reference(uri):
            asset = assets.resolve(self.store, "data", uri)
            path = Path(asset["local_path"]) if asset.get("local_path") else \
                self._local_path(asset["path"])
            input_type = input_type or asset["type"]
        else:
            path = self._local_path(uri)
        if input_type == "mltable":
            raise NotSupportedError("Data assets of type Table (MLTable) aren't currently "
                                    "supported by batch endpoints; use uri_folder or uri_file")
        if input_type not in (None, "uri_folder", "uri_file"):
            raise ValidationError(f"--input-type {input_type!r}: use uri_folder or uri_file")
        if path.exists():
            actual = "uri_folder" if path.is_dir() else "uri_file"
            if input_type and input_type != actual:
                raise InputError(f"input {uri} is a {'folder' if path.is_dir() else 'file'}; "
                                 f"use --input-type {actual}")
            input_type = actual
        return path, input_type

    def _remote(self, uri: str) -> tuple[datastores.RemoteStore, str] | None:
        """(store, path) when ``uri`` is on a datastore backed by object storage."""
        parsed = parse_datastore_uri(strip_type_prefix(str(uri)))
        if parsed is None:
            return None
        if parsed[0].lower() == DEFAULT_DATASTORE:
            blob_store = self.blob_store()
            return (blob_store, parsed[1]) if blob_store else None
        body = self.store.get("datastore", parsed[0])
        store = datastores.remote_store_for(body) if body else None
        return (store, parsed[1]) if store else None

    def _local_path(self, uri: str) -> Path:
        return to_local_path(uri, self.workspace, self._datastore_root)

    def _datastore_root(self, name: str) -> Path:
        if name.lower() == DEFAULT_DATASTORE:
            return self.workspace.datastore_dir(DEFAULT_DATASTORE)
        body = self.store.get("datastore", name)
        if body is None:
            raise ResourceNotFoundError(
                f"datastore {name!r} is not registered in workspace {self.workspace.name!r}; use "
                f"{DEFAULT_DATASTORE} or register it with 'batch-emulator ml datastore create'")
        if body.get("type") == "local":
            return Path(body["path"])
        return self.workspace.datastore_dir(body["name"])

    def _cluster_for(self, compute: str | None,
                     deployment: dict) -> tuple[ClusterSpec, int | None, list[str]]:
        if not compute:
            return ClusterSpec(), None, []
        name = compute.split(":", 1)[1] if compute.startswith("azureml:") else compute
        name = name.rsplit("/", 1)[-1]
        body = self.store.get("compute", name)
        if body is None:
            return ClusterSpec(), None, [f"compute {compute} is not registered; running on a "
                                         "local Dask cluster"]
        if body["type"] == "dask":
            return ClusterSpec(scheduler_address=body["scheduler_address"]), None, []
        if body["type"] == "amlcompute":
            return ClusterSpec(), int(body.get("max_instances") or 1), []
        image = None
        if deployment.get("environment"):
            image = assets.resolve(self.store, "environment", deployment["environment"]).get(
                "image")
        return ClusterSpec(kubernetes={"image": image, "namespace": body.get("namespace"),
                                       "resources": body.get("resources")}), None, []
