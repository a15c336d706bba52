"""Pipeline jobs and ``type: pipeline`` batch deployments.

A pipeline job, created or invoked on a deployment, is resolved here completely (its
components, inputs, models, output folders) into a ``PipelinePlan`` before anything is
stored; its steps are child jobs of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emulator import settings
from emulator.engine import environments
from emulator.engine.pipeline import StepSpec
from emulator.exceptions import NotSupportedError, ResourceNotFoundError, ValidationError
from emulator.jobs import launch
from emulator.jobs.pipeline import STEP_LOG, PipelinePlan
from emulator.jobs.record import DEFAULT_LOG as PARALLEL_LOG
from emulator.jobs.record import JobRecord, JobStatus
from emulator.model import components, references, schemas
from emulator.model.components import DATA_TYPES, MODEL_TYPES
from emulator.model.specs import apply_set_values
from emulator.model.uris import DEFAULT_DATASTORE, datastore_uri, strip_type_prefix
from emulator.model.validation import check_job_name
from emulator.service import documents
from emulator.workspace import assets, datastores

DEFAULT_INSTANCES = 2  # steps side by side when the compute names no maximum


class PipelineOperations:
    # ================================================================== pipeline jobs

    def create_job(self, file: str | None = None, set_values: Iterable[str] = (),
                   document: schemas.Document | None = None, base: Path | None = None,
                   name: str | None = None) -> dict:
        """``az ml job create -f pipeline-job.yml``: register the job's pipeline (its
        components) and start it; return at once."""
        if document is None and file is None:
            raise ValidationError("pass --file with the pipeline job's YAML")
        job = components.load_pipeline_job(document if document is not None else file,
                                           set_values, base)
        name = name or job.get("name") or f"pipelinejob-{uuid.uuid4()}"
        check_job_name(name)
        component = job["component"]
        if isinstance(component, str):
            component = self._component(component)
        else:  # refused before anything is registered when the job could not start
            resolved = self._resolved(component)
            components.check_pipeline(resolved, component.get("name") or "the pipeline")
            components.resolve_inputs(resolved.get("inputs") or {}, job.get("inputs") or {},
                                      f"pipeline job {name}")
            component = self._register_component(component)
        settings_ = job.get("settings") or {}
        return self._start_pipeline(
            component, job.get("inputs") or {}, job.get("outputs") or {}, settings_, name,
            body={"display_name": job.get("display_name") or name,
                  "experiment_name": job.get("experiment_name") or "Default",
                  "description": job.get("description", ""), "tags": job.get("tags") or {}},
            compute=job.get("compute") or settings_.get("default_compute"))

    def _start_pipeline(self, component: dict, inputs: Mapping[str, Any],
                        outputs: Mapping[str, Any], job_settings: Mapping[str, Any],
                        job_name: str, body: dict, compute: str | None,
                        endpoint: tuple[str, str] = ("", "")) -> dict:
        """Resolve a pipeline against the workspace, store the job and its steps, start it."""
        if self.store.get_job(job_name) is not None:
            raise ValidationError(f"a job named {job_name!r} already exists in workspace "
                                  f"{self.workspace.name!r}; choose another name")
        where = f"pipeline job {job_name}"
        resolved = self._resolved(component)
        order = components.check_pipeline(resolved, component["name"])
        values = components.resolve_inputs(resolved.get("inputs") or {}, dict(inputs), where)
        cluster, max_instances, notices = self._cluster_for(compute, {}, warm=False)
        datastore = job_settings.get("default_datastore") or DEFAULT_DATASTORE
        job_dir = self.workspace.job_dir(job_name)
        output_paths = {name: self._output_folder(spec, where, name) if _has_path(spec)
                        else str(self._datastore_root(datastore) / "azureml" / job_name / name)
                        for name, spec in outputs.items()}
        steps, step_outputs, environments_ = [], {}, {}
        for step_name in order:
            step = resolved["jobs"][step_name]
            step_job = f"{job_name}-{step_name}"
            check_job_name(step_job)
            spec, step_outputs[step_name], environment = self._step(
                step_name, step, step_job, values, step_outputs, output_paths, datastore,
                job_dir, notices)
            steps.append(spec)
            if environment is not None:
                environments_[step_name] = environment.to_dict()
        pipeline_outputs = self._pipeline_outputs(resolved, step_outputs)
        plan = PipelinePlan(
            job_name=job_name, job_dir=job_dir, steps=steps,
            step_jobs={s.name: str(self.workspace.job_dir(s.job_name)) for s in steps},
            continue_on_step_failure=bool(job_settings.get("continue_on_step_failure", False)),
            cluster=cluster, instance_count=max_instances or DEFAULT_INSTANCES,
            environments=environments_, home=str(self.workspace.home))
        record = JobRecord(name=job_name, job_folder=str(job_dir), status=JobStatus.QUEUED,
                           endpoint_name=endpoint[0], deployment_name=endpoint[1],
                           outputs=pipeline_outputs, notices=notices)
        shown_inputs = {k: v for k, v in values.items() if v is not None}
        parent_body = {**body, "type": "pipeline", "compute": compute, "inputs": shown_inputs,
                       "created_by": settings.user(), "settings": dict(job_settings),
                       "component": f"azureml:{component['name']}:{component['version']}",
                       "steps": [s.name for s in steps]}
        self._store_steps(job_name, job_dir, resolved, steps, step_outputs, compute)
        record.save()
        launch.launch(self.store, plan, record, parent_body, self.jobs_in_threads)
        self.warnings.extend(notices)
        return documents.job(self.store, {**parent_body, "record": record.to_dict()})

    def _step(self, step_name: str, step: Mapping[str, Any], step_job: str,
              values: Mapping[str, Any], step_outputs: Mapping[str, dict],
              output_paths: Mapping[str, str], datastore: str, job_dir: Path,
              notices: list[str]) -> tuple[StepSpec, dict, environments.EnvironmentSpec | None]:
        declared = step["component"]
        where = f"step {step_name}"
        given: dict[str, Any] = {}
        produced = set()  # inputs that are outputs of earlier steps: they exist once those ran
        for name, value in (step.get("inputs") or {}).items():
            binding = components.parse_binding(value)
            if binding is None:
                given[name] = value
            elif binding[0] == "input":
                given[name] = values.get(binding[1])
            else:
                given[name] = {"path": step_outputs[binding[1]][binding[2]]}
                produced.add(name)
        inputs = components.resolve_inputs(declared.get("inputs") or {},
                                           {k: v for k, v in given.items() if v is not None},
                                           where)
        local = {name: {"path": value["path"]} if name in produced
                 else self._local_input(name, value, where) for name, value in inputs.items()}
        outputs = {}
        for name in declared.get("outputs") or {}:
            bound = components.parse_binding((step.get("outputs") or {}).get(name))
            if bound and bound[1] in output_paths:
                outputs[name] = output_paths[bound[1]]
            else:
                outputs[name] = str(self._datastore_root(datastore) / "azureml" / step_job / name)
        limits = step.get("limits") or declared.get("limits") or {}
        variables = {**(declared.get("environment_variables") or {}),
                     **(step.get("environment_variables") or {})}
        step_dir = self.workspace.job_dir(step_job)
        holder = components.runnable(declared)
        spec = StepSpec(
            name=step_name, job_name=step_job,
            command="" if declared.get("type") == components.PARALLEL else
            components.render_command(declared["command"], local, outputs),
            kind=declared.get("type", "command"),
            batch=self._parallel_task(declared, local, outputs) if
            declared.get("type") == components.PARALLEL else None,
            work_dir=str(step_dir / "wd"), log_file=str(step_dir / _step_log(declared)),
            cancel_file=str(job_dir / launch.CANCEL_FILE), code_dir=holder.get("code") or "",
            outputs=tuple(outputs.values()),
            environment_variables=tuple((k, str(v)) for k, v in variables.items()),
            timeout=limits.get("timeout"),
            after=tuple(sorted({b[1] for b in map(components.parse_binding,
                                                  (step.get("inputs") or {}).values())
                                if b and b[0] == "step"})))
        return spec, outputs, self._step_environment(holder, step_name, notices)

    def _parallel_task(self, component: Mapping[str, Any], inputs: Mapping[str, Any],
                       outputs: Mapping[str, str]) -> dict:
        """What the runner needs to score a parallel step's mini-batches on the engine: its
        input, its results folder, its script and Azure's parallel settings."""
        task = component["task"]
        appended = task.get("append_row_to")
        program = components.render_command(task.get("program_arguments") or "", inputs,
                                             outputs)
        return {
            "input": components.render_value(component["input_data"], inputs, outputs),
            "output": components.render_value(appended, inputs, outputs) if appended else "",
            "entry_script": task["entry_script"],
            "program_arguments": shlex.split(program),
            "resources": dict(component.get("resources") or {}),
            "settings": {key: component[key] for key in (
                "mini_batch_size", "max_concurrency_per_instance", "retry_settings",
                "error_threshold", "logging_level") if key in component}
            | {"output_action": "append_row" if appended else "summary_only"},
        }

    def _local_input(self, name: str, value: Any, where: str) -> Any:
        """A literal as it is; a data input as the local path a step reads."""
        if not isinstance(value, Mapping):
            return value
        kind, path = value["type"], strip_type_prefix(str(value["path"]))
        if kind in MODEL_TYPES and references.is_reference(path):
            return {"path": assets.resolve(self.store, "model", path)["local_path"]}
        if references.is_reference(path):
            asset = assets.resolve(self.store, "data", path)
            path = asset.get("local_path") or asset["path"]
        location = self._location(path if "://" in path or Path(path).is_absolute()
                                  else str(Path(path).resolve()))
        if location.path is None:  # a datastore on object storage: steps read a local copy
            return {"path": str(self._input_copy(location))}
        if not Path(location.path).exists():
            raise ResourceNotFoundError(f"{where}: input {name!r}: {path} does not exist")
        return {"path": str(location.path)}

    def _input_copy(self, location: Any) -> Path:
        """The folder or file at an object-store location, downloaded once into the
        workspace's input cache (keyed by its URI; uploads of the SDK are content-addressed)."""
        cache = self.workspace.root / "cache" / "inputs" / hashlib.sha256(
            location.uri.encode()).hexdigest()[:32]
        if not cache.exists():
            partial = cache.with_name(f".{cache.name}.{uuid.uuid4().hex}")
            datastores.download_tree(location.remote, location.prefix, partial)
            partial.rename(cache)
        return next(cache.iterdir())

    def _output_folder(self, spec: Any, where: str, name: str) -> str:
        path = spec.get("path") if isinstance(spec, Mapping) else spec
        if not isinstance(path, str):
            raise ValidationError(f"{where}: output {name!r} needs a path, e.g. "
                                  f"{datastore_uri(DEFAULT_DATASTORE, 'azureml/NAME/')}")
        location = self._location(path)
        if location.path is None:
            raise NotSupportedError(f"{where}: output {name!r} is on object storage ({path}); "
                                    "pipeline outputs go to local folders and datastores kept "
                                    "as folders")
        return str(location.path)

    def _step_environment(self, component: Mapping[str, Any], step: str,
                          notices: list[str]) -> environments.EnvironmentSpec | None:
        environment = component.get("environment")
        if not isinstance(environment, str):
            return None
        if environment.startswith(components.CURATED_ENVIRONMENTS):
            notices.append(f"step {step}: {environment} is an environment of Azure's registry; "
                           "the step runs in the job's own environment")
            return None
        asset = assets.resolve(self.store, "environment", environment)
        conda = asset.get("local_path")
        return environments.spec_for(self.workspace.home, Path(conda)) if conda else None

    def _pipeline_outputs(self, resolved: Mapping[str, Any],
                          step_outputs: Mapping[str, dict]) -> dict[str, str]:
        found = {}
        for step_name, step in resolved["jobs"].items():
            for name, value in (step.get("outputs") or {}).items():
                bound = components.parse_binding(value)
                if bound:
                    found[bound[1]] = step_outputs[step_name][name]
        return found

    def _store_steps(self, job_name: str, job_dir: Path, resolved: Mapping[str, Any],
                     steps: list[StepSpec], step_outputs: Mapping[str, dict],
                     compute: str | None) -> None:
        for spec in steps:
            component = resolved["jobs"][spec.name]["component"]
            record = JobRecord(name=spec.job_name,
                               job_folder=str(self.workspace.job_dir(spec.job_name)),
                               log_file=_step_log(component),
                               outputs=dict(step_outputs[spec.name]))
            record.save()
            body = {"type": spec.kind, "display_name": spec.name, "parent_job_name": job_name,
                    "runner_folder": str(job_dir), "compute": compute, "command": spec.command,
                    "component": f"azureml:{component['name']}:{component['version']}",
                    "created_by": settings.user(), "record": record.to_dict()}
            if not self.store.insert_job(spec.job_name, "", "", record.status, body):
                raise ValidationError(f"a job named {spec.job_name!r} already exists in "
                                      f"workspace {self.workspace.name!r}; choose another name")

    # ================================================================== deployments

    def _create_pipeline_deployment(self, document: schemas.Document, base: Path,
                                    name: str | None, endpoint_name: str | None,
                                    set_values: Iterable[str], set_default: bool) -> dict:
        data = dict(document.data)
        data.update({"name": name} if name else {})
        data.update({"endpoint_name": endpoint_name} if endpoint_name else {})
        data = apply_set_values(data, set_values)
        document = schemas.Document(data, document.source, document.lines)
        schemas.validate("pipeline_deployment", document)
        if not data.get("endpoint_name"):
            raise ValidationError(f"{document.source}: the deployment needs an endpoint: pass "
                                  "--endpoint-name or set endpoint_name in the YAML")
        endpoint = self._endpoint(data["endpoint_name"])
        job_settings = dict(data.get("settings") or {})
        if job_settings.get("default_compute"):
            self._check_compute(job_settings["default_compute"], data["name"])
        component = self._deployed_component(data, base)
        body = {"name": data["name"], "endpoint_name": endpoint["name"], "type": "pipeline",
                "description": data.get("description", ""), "tags": data.get("tags") or {},
                "component": f"azureml:{component['name']}:{component['version']}",
                "settings": job_settings}
        self.store.put("deployment", body["name"], body, parent=endpoint["name"])
        if set_default:
            self.update_endpoint(endpoint["name"],
                                 set_values=[f"defaults.deployment_name={body['name']}"])
        return documents.deployment(self.store, body)

    def _deployed_component(self, data: Mapping[str, Any], base: Path) -> dict:
        if data.get("job_definition") is not None:
            return self._job_component(data["job_definition"])
        component = data["component"]
        if isinstance(component, str) and components.is_reference(component):
            found = self._component(component)
            if found.get("source_job_id"):  # the SDK's job_definition=, see below
                return self._job_component(f"azureml:{found['source_job_id']}")
            return found
        if isinstance(component, str):
            loaded = components.load_component((base / component).resolve())
        else:
            loaded = components.load_component(schemas.Document(dict(component), "component",
                                                                {}), base=base)
        if loaded.get("type") != "pipeline":
            raise ValidationError("component: a pipeline deployment deploys a pipeline "
                                  f"component, not a {loaded.get('type')} component")
        return self._register_component(loaded)

    def publish_output(self, job_name: str, output_name: str) -> str:
        """The datastore URI of a job's named output folder (``jobs.download``): a folder of
        ``workspaceblobstore``, uploaded to its Azurite container first while Azurite serves it."""
        record = self.job_record(job_name)
        folder = Path((record.outputs or {}).get(output_name) or "")
        if output_name not in (record.outputs or {}):
            raise ResourceNotFoundError(f"job {job_name} has no output named {output_name!r}; "
                                        f"its outputs: {', '.join(sorted(record.outputs)) or 'none'}")
        root = self._datastore_root(DEFAULT_DATASTORE)
        if not folder.is_relative_to(root):
            raise NotSupportedError(f"job {job_name}: output {output_name} is at {folder}, "
                                    f"outside {DEFAULT_DATASTORE}; download it with 'job download'")
        prefix = folder.relative_to(root).as_posix()
        store = self.blob_store()
        if store is not None and folder.is_dir():
            objects = store.objects()
            for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                key = store.key(f"{prefix}/{file.relative_to(folder).as_posix()}")
                with contextlib.suppress(FileExistsError):  # published by an earlier download
                    objects.put_if_absent(key, file.read_bytes())
        return datastore_uri(DEFAULT_DATASTORE, prefix + "/")

    def _invoke_pipeline(self, deployment: dict, inputs: Mapping[str, Any],
                         outputs: Mapping[str, Any], job_name: str | None) -> dict:
        component = self._component(deployment["component"])
        name = job_name or f"batchjob-{uuid.uuid4()}"
        check_job_name(name)
        job_settings = deployment.get("settings") or {}
        return self._start_pipeline(
            component, inputs, outputs, job_settings, name,
            body={"display_name": name, "experiment_name": deployment["endpoint_name"]},
            compute=job_settings.get("default_compute"),
            endpoint=(deployment["endpoint_name"], deployment["name"]))

    def _pipeline_inputs_of(self, values: Iterable[str], inputs_file: str | None,
                            single_input: str | None, input_type: str | None,
                            declared: Mapping[str, Any]) -> tuple[dict, dict]:
        """An invoke's named inputs and outputs: an inputs file, ``--set inputs.x.value=…``
        (or ``.path``), and a single ``--input`` for a pipeline with one data input."""
        named = apply_set_values({}, [v for v in values if v.startswith(("inputs.", "outputs."))])
        if inputs_file:
            loaded = schemas.load_document(inputs_file).data or {}
            if not isinstance(loaded, Mapping):
                raise ValidationError(f"{inputs_file}: expected inputs: and outputs: mappings")
            base = Path(inputs_file).resolve().parent  # its paths are relative to it
            for key in ("inputs", "outputs"):
                given = {name: components.absolute_input(value, base)
                         for name, value in (loaded.get(key) or {}).items()}
                named[key] = {**given, **(named.get(key) or {})}
        inputs = dict(named.get("inputs") or {})
        if single_input is not None:
            data_inputs = [n for n, spec in declared.items() if spec["type"] in DATA_TYPES
                           and n not in inputs]
            if len(data_inputs) != 1:
                raise ValidationError("--input: this pipeline takes several inputs ("
                                      f"{', '.join(sorted(declared))}); give them with --file "
                                      "inputs.yml or --set inputs.NAME.path=...")
            inputs[data_inputs[0]] = {"type": input_type or declared[data_inputs[0]]["type"],
                                      "path": single_input}
        return inputs, dict(named.get("outputs") or {})


def _has_path(spec: Any) -> bool:
    return not isinstance(spec, Mapping) or spec.get("path") is not None


def _step_log(component: Mapping[str, Any]) -> str:
    """What a step's stream follows: a command's output, or a parallel step's progress."""
    return PARALLEL_LOG if component.get("type") == components.PARALLEL else STEP_LOG
