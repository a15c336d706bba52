"""The operations of the batch endpoint API, one method per ``az ml`` verb.

Every front end (CLI, REST server, pytest plugin) calls these and only renders the result;
no rule lives in a front end. Methods validate everything before they write anything, so a
refused request leaves the store as it was.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from emulator import (
    assets,
    auth,
    datastores,
    documents,
    environments,
    job_runner,
    mlflow_models,
    schemas,
)
from emulator.config import read_defaults
from emulator.engine import inprocess
from emulator.engine.cluster import ClusterSpec
from emulator.engine.record import TERMINAL, JobRecord
from emulator.exceptions import (
    InputError,
    NotSupportedError,
    ResourceNotFoundError,
    ValidationError,
)
from emulator.jobs import CANCEL_REQUEST_FILE, prepare_job
from emulator.specs import (
    DEPLOYMENT,
    apply_set_values,
    build_deployment,
    check_scoring_script,
    settings_to_mapping,
)
from emulator.store import Store
from emulator.uris import parse_datastore_uri, strip_type_prefix, to_local_path
from emulator.validation import load_resource
from emulator.workspace import DEFAULT_DATASTORE, Workspace

NO_ROUTE = ("No valid deployments to route to. Please check that the endpoint has at least one "
            "deployment with positive weight values or use a deployment specific header to route.")
LITERAL_INPUT = ("The specified job input type 'LiteralJobInput' is not supported. The supported "
                 "types are: UriFileJobInput, UriFolderJobInput.")
LITERAL_TYPES = {"string", "integer", "number", "boolean", "literal"}
INVOKE_SET_KEYS = ("mini_batch_size", "instance_count", "output_file_name", "error_threshold",
                   "logging_level", "retry_settings.", "environment_variables.")


class BatchService:
    """The batch endpoint API over one workspace of one home."""

    def __init__(self, home: str | os.PathLike | None = None, workspace: str | None = None,
                 resource_group: str | None = None, subscription: str | None = None,
                 jobs_in_threads: bool = False, in_process_scoring: bool = False,
                 create: bool = True):
        """``jobs_in_threads`` runs jobs in this process instead of a runner process each;
        ``in_process_scoring`` also scores in it (both for the pytest plugin). With
        ``create=False`` a workspace that does not exist yet is an error, not created."""
        self.jobs_in_threads = jobs_in_threads
        self.in_process_scoring = in_process_scoring
        base = Workspace.open(home)
        defaults = read_defaults(base.home)
        self.workspace = Workspace(base.home, workspace or defaults.get("workspace") or base.name)
        self.workspace.check_name()
        if not create and not self.workspace.exists():
            raise ResourceNotFoundError(f"workspace {self.workspace.name!r} does not exist in "
                                        f"{base.home}; any create command makes it")
        self.store = Store(self.workspace, subscription or auth.SUBSCRIPTION_ID,
                           resource_group or defaults.get("group") or "local")
        self.warnings: list[str] = []

    # ================================================================== endpoints

    def create_endpoint(self, name: str | None = None, file: str | None = None,
                        set_values: Iterable[str] = (), document: Mapping | None = None) -> dict:
        """Create the endpoint, or overwrite it when the name exists (as az does).

        From ``--name``, a YAML ``file`` or an already parsed ``document`` (the REST body)."""
        identity = [f"name={name}"] if name else []
        body = load_resource("batch_endpoint", file, [*set_values, *identity],
                             base=dict(document) if document is not None else None)
        if "name" not in body:
            raise ValidationError("an endpoint needs a name: pass --name or a YAML with name:")
        self._check_default_deployment(body)
        self.store.put("endpoint", body["name"], body)
        return documents.endpoint(self.store, body)

    def show_endpoint(self, name: str) -> dict:
        return documents.endpoint(self.store, self._endpoint(name))

    def list_endpoints(self) -> list[dict]:
        return [documents.endpoint(self.store, body) for body in self.store.list("endpoint")]

    def update_endpoint(self, name: str, file: str | None = None, set_values: Iterable[str] = (),
                        defaults: Mapping[str, str] | None = None) -> dict:
        current = self._endpoint(name)
        settable = [*set_values, *(f"defaults.{k}={v}" for k, v in (defaults or {}).items())]
        if file:
            body = load_resource("batch_endpoint", file, [*settable, f"name={current['name']}"])
        else:
            body = load_resource("batch_endpoint", None, settable, base=current)
        if body["name"].lower() != current["name"].lower():
            raise ValidationError(f"cannot rename endpoint {current['name']!r} to "
                                  f"{body['name']!r}; create a new endpoint instead")
        self._check_default_deployment(body)
        self.store.put("endpoint", body["name"], body)
        return documents.endpoint(self.store, body)

    def delete_endpoint(self, name: str) -> None:
        """Delete the endpoint and its deployments; its jobs stay (as in Azure)."""
        endpoint = self._endpoint(name)
        with self.store.transaction() as connection:
            self.store.delete_children("deployment", endpoint["name"], connection)
            self.store.delete("endpoint", endpoint["name"], connection=connection)

    def _endpoint(self, name: str) -> dict:
        body = self.store.get("endpoint", name)
        if body is None:
            raise ResourceNotFoundError(
                f"batch endpoint {name!r} does not exist in workspace {self.workspace.name!r}; "
                "create it with 'batch-emulator ml batch-endpoint create --name NAME'")
        return body

    def _check_default_deployment(self, body: dict) -> None:
        default = (body.get("defaults") or {}).get("deployment_name")
        if default and self.store.get("deployment", default, parent=body["name"]) is None:
            raise ResourceNotFoundError(
                f"deployment {default!r} does not exist under endpoint {body['name']!r}; create "
                "it before making it the default")

    # ================================================================== deployments

    def create_deployment(self, file: str, name: str | None = None,
                          endpoint_name: str | None = None, set_values: Iterable[str] = (),
                          set_default: bool = False, skip_script_validation: bool = False) -> dict:
        """Validate the YAML, register its model, code and environment, store the deployment."""
        return self.create_deployment_from(schemas.load_document(file), Path(file).resolve().parent,
                                           name, endpoint_name, set_values, set_default,
                                           skip_script_validation)

    def create_deployment_from(self, document: schemas.Document, base: Path,
                               name: str | None = None, endpoint_name: str | None = None,
                               set_values: Iterable[str] = (), set_default: bool = False,
                               skip_script_validation: bool = False) -> dict:
        """The same from a parsed document (a YAML file, or the REST body); local paths in it
        are relative to ``base``; code may also be a registered code asset."""
        file = document.source
        if not isinstance(document.data, dict):
            raise ValidationError(f"{file}: a batch deployment must be a mapping")
        identity = [f"name={name}"] if name else []
        identity += [f"endpoint_name={endpoint_name}"] if endpoint_name else []
        data = apply_set_values(document.data, [*set_values, *identity])
        code_reference = (data.get("code_configuration") or {}).get("code")
        if isinstance(code_reference, str) and assets.is_reference(code_reference):
            code = assets.resolve(self.store, "code", code_reference)
            data["code_configuration"]["code"] = code["local_path"]
        document = schemas.Document(data, document.source, document.lines)
        if data.get("type") == "pipeline":
            raise NotSupportedError(f"{file}: type: pipeline deployments are not supported by "
                                    "the emulator; use a model deployment (type: model)")
        schemas.validate(DEPLOYMENT, document)
        deployment = build_deployment(data, base, document)
        if not deployment.endpoint_name:
            raise ValidationError(f"{file}: the deployment needs an endpoint: pass "
                                  "--endpoint-name or set endpoint_name in the YAML")
        endpoint = self._endpoint(deployment.endpoint_name)
        if deployment.code_configuration is None:
            self._require_scriptless_model(deployment)
        elif not skip_script_validation:
            check_scoring_script(deployment.code_configuration)
        model_reference = self._register_model(deployment)
        environment = self._register_environment(deployment)
        code = None
        if deployment.code_configuration is not None:
            code = {"code": str(assets.register_code(self.store,
                                                     deployment.code_configuration.code)),
                    "scoring_script": deployment.code_configuration.scoring_script}
        body = {
            "name": deployment.name,
            "endpoint_name": endpoint["name"],
            "type": "model",
            "description": deployment.description,
            "tags": dict(deployment.tags),
            "model": model_reference,
            "code_configuration": code,
            "environment": environment,
            "compute": deployment.compute,
            "resources": {"instance_count": deployment.instance_count},
            "settings": settings_to_mapping(deployment.settings),
        }
        self.store.put("deployment", deployment.name, body, parent=endpoint["name"])
        if set_default:
            self.update_endpoint(endpoint["name"], set_values=[
                f"defaults.deployment_name={deployment.name}"])
        return documents.deployment(self.store, body)

    def _require_scriptless_model(self, deployment) -> None:
        """Without a scoring script the model must be an MLflow python_function model."""
        model = deployment.model
        if model.reference:
            asset = assets.resolve(self.store, "model", model.reference)
            path, name = Path(asset["local_path"]), f"{asset['name']}:{asset['version']}"
        else:
            path, name = model.path, model.name or str(model.path)
        if path is None or not mlflow_models.is_mlflow_model(path):
            raise ValidationError(f"deployment {deployment.name!r} has no code_configuration and "
                                  f"model {name} is not an MLflow model; add code_configuration "
                                  "(code and scoring_script) or deploy an MLflow model")
        mlflow_models.require_pyfunc(path, name)

    def _register_model(self, deployment) -> str:
        model = deployment.model
        if model.reference:
            asset = assets.resolve(self.store, "model", model.reference)
            return f"azureml:{asset['name']}:{asset['version']}"
        if model.path is None or not model.path.exists():
            raise ResourceNotFoundError(f"model path {model.path} does not exist; fix model.path "
                                        "(relative to the deployment YAML)")
        name = model.name or f"{deployment.name}-model"
        existing = self.store.get("model", name, version=model.version) if model.version else None
        if existing is not None:
            return f"azureml:{name}:{model.version}"
        document = {"name": name, "version": model.version, "path": str(model.path)}
        if model.type:
            document["type"] = model.type
        elif mlflow_models.is_mlflow_model(model.path):
            document["type"] = "mlflow_model"
        if document.get("type") == "mlflow_model":
            document["flavors"] = mlflow_models.flavors(model.path)
        asset = assets.register(self.store, "model", schemas.fill_defaults("model", document),
                                model.path)
        return f"azureml:{asset['name']}:{asset['version']}"

    def _register_environment(self, deployment) -> str | None:
        environment = deployment.environment
        if environment is None:
            return None
        if isinstance(environment, str):
            asset = assets.resolve(self.store, "environment", environment)
            return f"azureml:{asset['name']}:{asset['version']}"
        base = deployment.source.parent if deployment.source else Path.cwd()
        name = environment.get("name") or f"{deployment.name}-env"
        version = environment.get("version")
        if version is not None and self.store.get("environment", name, version=str(version)):
            return f"azureml:{name}:{version}"
        return self._store_environment({**environment, "name": name}, base)

    def _store_environment(self, environment: dict, base: Path) -> str:
        conda = environment.get("conda_file")
        source = None
        if conda:
            source = (base / strip_type_prefix(conda)).resolve()
            if not source.is_file():
                raise ResourceNotFoundError(f"conda file {source} does not exist; fix "
                                            "environment.conda_file (relative to the YAML)")
        asset = assets.register(self.store, "environment", dict(environment), source)
        return f"azureml:{asset['name']}:{asset['version']}"

    def show_deployment(self, name: str, endpoint_name: str) -> dict:
        return documents.deployment(self.store, self._deployment(name, endpoint_name))

    def list_deployments(self, endpoint_name: str) -> list[dict]:
        endpoint = self._endpoint(endpoint_name)
        return [documents.deployment(self.store, body)
                for body in self.store.list("deployment", parent=endpoint["name"])]

    def update_deployment(self, name: str | None, endpoint_name: str | None,
                          file: str | None = None, set_values: Iterable[str] = (),
                          skip_script_validation: bool = False) -> dict:
        if file:
            data = schemas.load_document(file).data or {}
            name = name or data.get("name")
            endpoint_name = endpoint_name or data.get("endpoint_name")
            if not name or not endpoint_name:
                raise ValidationError("update needs the deployment's --name and --endpoint-name")
            self._deployment(name, endpoint_name)
            return self.create_deployment(file, name, endpoint_name, set_values,
                                          skip_script_validation=skip_script_validation)
        if not name or not endpoint_name:
            raise ValidationError("update needs --name and --endpoint-name (or --file)")
        current = self._deployment(name, endpoint_name)
        data = apply_set_values(current, set_values)
        for key in ("name", "endpoint_name"):
            if str(data[key]).lower() != str(current[key]).lower():
                raise ValidationError(f"cannot change {key} with update; create a new deployment")
        schemas.validate(DEPLOYMENT, schemas.Document(data, "--set", {}))
        deployment = build_deployment(data, Path("/"))
        data["settings"] = settings_to_mapping(deployment.settings)
        if data.get("model") != current.get("model"):
            assets.resolve(self.store, "model", data["model"])
        self.store.put("deployment", current["name"], data, parent=current["endpoint_name"])
        return documents.deployment(self.store, data)

    def delete_deployment(self, name: str, endpoint_name: str) -> None:
        deployment = self._deployment(name, endpoint_name)
        endpoint = self._endpoint(endpoint_name)
        with self.store.transaction() as connection:
            if (endpoint.get("defaults") or {}).get("deployment_name", "").lower() == name.lower():
                endpoint["defaults"].pop("deployment_name")
                self.store.put("endpoint", endpoint["name"], endpoint, connection=connection)
                self.warnings.append(
                    f"deployment {deployment['name']!r} was the default of endpoint "
                    f"{endpoint['name']!r}; the endpoint has no default deployment now: set one "
                    "with 'batch-endpoint update --set defaults.deployment_name=NAME'")
            self.store.delete("deployment", name, parent=endpoint["name"], connection=connection)

    def _deployment(self, name: str, endpoint_name: str) -> dict:
        endpoint = self._endpoint(endpoint_name)
        body = self.store.get("deployment", name, parent=endpoint["name"])
        if body is None:
            known = ", ".join(d["name"] for d in self.store.list("deployment",
                                                                 parent=endpoint["name"]))
            raise ResourceNotFoundError(
                f"deployment {name!r} does not exist under endpoint {endpoint['name']!r} "
                f"(deployments: {known or 'none'}); create it with 'batch-deployment create'")
        return body

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
            if not remote_input[0].filesystem().exists(remote_input[0].key(remote_input[1])):
                raise InputError(f"input {input} does not exist in its datastore; upload the "
                                 "data or fix the path")
        else:
            input_path, input_type = self._resolve_input(input, input_type)
        deployment = build_deployment(body, Path("/"))
        model = assets.resolve(self.store, "model", body["model"])
        cluster, max_instances, notices = self._cluster_for(body.get("compute"), body)
        output_uri = output_dir = remote_output = None
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
        if parsed is None or parsed[0].lower() == DEFAULT_DATASTORE:
            return None
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
        (Path(record.job_folder) / CANCEL_REQUEST_FILE).touch()
        body["display_status"] = "CancelRequested"
        return documents.job(self.store, body)

    def wait_job(self, name: str, timeout: float | None = None, poll: float = 0.2) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        for body in self._follow(name, poll):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {name} still {body['record']['status']} after {timeout} s")
        return self.show_job(name)

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
        if status in TERMINAL or job_runner.runner_alive(pid, name):
            return body
        found = self.store.get_job(name)  # the runner may have ended just now
        if found and found[0]["record"]["status"] in TERMINAL:
            return found[0]
        record = JobRecord.from_dict(body["record"])
        record.error = (f"the job runner process (pid {pid}) ended without finishing the job; "
                        f"see {Path(record.job_folder) / job_runner.RUNNER_LOG}")
        record.set_status("Failed")
        body = {**body, "record": record.to_dict()}
        self.store.update_job(name, record.status, body)
        return body

    # ================================================================== assets

    def create_model(self, file: str | None = None, set_values: Iterable[str] = (),
                     **fields: Any) -> dict:
        return self._create_asset("model", file, set_values, fields)

    def create_data(self, file: str | None = None, set_values: Iterable[str] = (),
                    **fields: Any) -> dict:
        return self._create_asset("data", file, set_values, fields)

    def create_environment(self, file: str | None = None, set_values: Iterable[str] = (),
                           **fields: Any) -> dict:
        base = {k: v for k, v in fields.items() if v is not None}
        body = load_resource("environment", file, set_values, base=base if not file else None)
        if file:
            body = {**body, **base}
        if "name" not in body:
            raise ValidationError("an environment needs a name: pass --name or name: in the YAML")
        origin = Path(file).resolve().parent if file else Path.cwd()
        version = body.get("version")
        if version is not None and self.store.get("environment", body["name"], version=str(version)):
            raise ValidationError(f"environment {body['name']} version {version} already exists; "
                                  "omit --version for the next one")
        reference = self._store_environment(body, origin)
        name, version = assets.parse_reference(reference, "environment")
        return self.store.get("environment", name, version=version)

    def _create_asset(self, kind: str, file: str | None, set_values, fields) -> dict:
        flags = {k: v for k, v in fields.items() if v is not None}
        body = load_resource(kind, file, [*set_values, *(f"{k}={v}" for k, v in flags.items())])
        if "name" not in body:
            raise ValidationError(f"a {kind} needs a name: pass --name or name: in the YAML")
        path = body.get("path") or body.get("local_path")
        if not path:
            raise ValidationError(f"a {kind} needs a path: pass --path or path: in the YAML")
        body["path"] = str(path)
        source = None
        if parse_datastore_uri(path) is None and not str(path).startswith(("azureml:", "http")):
            origin = Path(file).resolve().parent if file else Path.cwd()
            source = (origin / strip_type_prefix(str(path)).removeprefix("file://")).resolve()
            if not source.exists():
                raise ResourceNotFoundError(f"{kind} path {source} does not exist; fix --path")
            if kind == "model" and body["type"] == "mlflow_model":
                body["flavors"] = mlflow_models.flavors(source)
            if kind == "data":
                expected = body["type"]
                actual = "uri_folder" if source.is_dir() else "uri_file"
                if expected in ("uri_folder", "uri_file") and expected != actual:
                    raise ValidationError(f"data {body['name']}: {source} is a "
                                          f"{'folder' if source.is_dir() else 'file'}; use "
                                          f"--type {actual}")
        return assets.register(self.store, kind, body, source)

    def show_asset(self, kind: str, name: str, version: str | None = None,
                   label: str | None = None) -> dict:
        reference = f"azureml:{name}:{version}" if version else f"azureml:{name}@latest"
        if label not in (None, "latest"):
            raise ValidationError("only --label latest is supported")
        return assets.resolve(self.store, kind, reference)

    def list_assets(self, kind: str, name: str | None = None) -> list[dict]:
        bodies = self.store.list(kind, name=name)
        if name is None:  # like az: the latest version of each
            latest: dict[str, dict] = {}
            for body in bodies:
                key = body["name"].lower()
                if key not in latest or assets.version_key(body) > assets.version_key(latest[key]):
                    latest[key] = body
            bodies = list(latest.values())
        return bodies

    def delete_asset(self, kind: str, name: str, version: str | None = None) -> None:
        if version is None and kind in ("model", "data", "environment"):
            raise ValidationError(f"pass --version: which version of {kind} {name} to delete")
        if not self.store.delete(kind, name, version=version):
            what = f"{kind} {name}" + (f":{version}" if version else "")
            raise ResourceNotFoundError(f"{what} does not exist in workspace "
                                        f"{self.workspace.name!r}")

    # ----------------------------------------------------------------- compute & datastores

    def create_compute(self, file: str | None = None, set_values: Iterable[str] = (),
                       **fields: Any) -> dict:
        flags = [f"{k}={v}" for k, v in fields.items() if v is not None]
        body = load_resource("compute", file, [*set_values, *flags])
        body["id"] = assets.arm_id(self.store, "computes", body["name"])
        body["provisioning_state"] = "Succeeded"
        self.store.put("compute", body["name"], body)
        return body

    def show_compute(self, name: str) -> dict:
        body = self.store.get("compute", name)
        if body is None:
            raise ResourceNotFoundError(f"compute {name!r} does not exist in workspace "
                                        f"{self.workspace.name!r}; create it with 'compute create'")
        return body

    def list_computes(self) -> list[dict]:
        return self.store.list("compute")

    def create_datastore(self, file: str | None = None, set_values: Iterable[str] = (),
                         **fields: Any) -> dict:
        flags = [f"{k}={v}" for k, v in fields.items() if v is not None]
        body = load_resource("datastore", file, [*set_values, *flags])
        if body["name"].lower() == DEFAULT_DATASTORE:
            raise ValidationError(f"{DEFAULT_DATASTORE} is the workspace's built-in datastore; "
                                  "choose another name")
        if body["type"] == "local":
            origin = Path(file).resolve().parent if file else Path.cwd()
            body["path"] = str((origin / body["path"]).resolve())
        body["id"] = assets.arm_id(self.store, "datastores", body["name"])
        self.store.put("datastore", body["name"], body)
        return _redacted(body)

    def show_datastore(self, name: str) -> dict:
        if name.lower() == DEFAULT_DATASTORE:
            return self._default_datastore()
        body = self.store.get("datastore", name)
        if body is None:
            raise ResourceNotFoundError(f"datastore {name!r} does not exist in workspace "
                                        f"{self.workspace.name!r}")
        return _redacted(body)

    def list_datastores(self) -> list[dict]:
        return [self._default_datastore(), *map(_redacted, self.store.list("datastore"))]

    def _default_datastore(self) -> dict:
        return {"name": DEFAULT_DATASTORE, "type": "azure_blob", "account_name": "local",
                "container_name": "azureml-blobstore", "is_default": True,
                "path": str(self.workspace.datastore_dir(DEFAULT_DATASTORE)),
                "id": assets.arm_id(self.store, "datastores", DEFAULT_DATASTORE)}

    # ================================================================== account

    def get_access_token(self, resource: str | None = None) -> dict:
        return auth.issue_token(self.workspace.home, resource or auth.MANAGEMENT_RESOURCE)

    def show_account(self) -> dict:
        user = os.environ.get("USER", "local-user")
        return {"environmentName": "AzureCloud", "id": self.store.subscription,
                "isDefault": True, "name": "batch-emulator", "state": "Enabled",
                "tenantId": auth.TENANT_ID, "homeTenantId": auth.TENANT_ID,
                "user": {"name": user, "type": "user"}}


def _redacted(body: dict) -> dict:
    """Datastore secrets are stored, never shown (az shows them only through list-secrets)."""
    if "credentials" not in body:
        return body
    return {**body, "credentials": {k: "***" for k in body["credentials"]}}


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
