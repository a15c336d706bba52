"""Components: registered versions of command and pipeline components.

A component is registered with its code (and its steps' code) copied in and its inline
environment registered, so a stored component runs whatever happens to the files it came
from; a step's inline component is registered as a component of its own, and the same
definition registered again is the same version.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emulator import settings
from emulator.exceptions import ConflictError, ResourceNotFoundError, ValidationError
from emulator.model import components, references, schemas
from emulator.model.timestamps import iso_time
from emulator.service import documents
from emulator.workspace import assets

COMPONENT = "component"
# Fields of a stored component that are not its definition (immutability compares the rest).
_BOOKKEEPING = ("id", "creation_context", "is_archived")


class ComponentOperations:
    # ================================================================== components

    def create_component(self, file: str | None = None, set_values: Iterable[str] = (),
                         document: schemas.Document | None = None,
                         base: Path | None = None) -> dict:
        """Register a command or pipeline component from YAML (or a parsed document whose
        paths are relative to ``base``); the same version again is that version."""
        if document is None and file is None:
            raise ValidationError("pass --file with the component's YAML")
        component = components.load_component(document if document is not None else file,
                                               set_values, base)
        return documents.component(self.store, self._register_component(component))

    def show_component(self, name: str, version: str | None = None,
                       label: str | None = None) -> dict:
        reference = f"azureml:{name}:{version}" if version else f"azureml:{name}@latest"
        return documents.component(self.store, self._component(reference))

    def list_components(self, name: str | None = None, include_archived: bool = False) -> list[dict]:
        """The latest version of each component, or every version of ``name``."""
        if name is not None:
            bodies = [self.store.get(COMPONENT, name, version=v)
                      for v in self.store.versions(COMPONENT, name)]
            if not bodies:
                self._component(f"azureml:{name}@latest")  # the not-found error
            bodies.reverse()
        else:
            latest: dict[str, dict] = {}
            for body in self.store.list(COMPONENT):
                key = body["name"].lower()
                if key not in latest or assets.version_key(body) > assets.version_key(latest[key]):
                    latest[key] = body
            bodies = sorted(latest.values(), key=lambda b: b["name"])
        return [documents.component(self.store, b) for b in bodies
                if include_archived or not b.get("is_archived")]

    def archive_component(self, name: str, version: str | None = None) -> dict:
        """Hide a component version (all versions without ``version``) from ``list``; it
        stays usable by reference, as in Azure."""
        versions = [version] if version else self.store.versions(COMPONENT, name)
        if not versions:
            self._component(f"azureml:{name}@latest")
        for number in versions:
            body = self._component(f"azureml:{name}:{number}")
            self.store.put(COMPONENT, body["name"], {**body, "is_archived": True},
                           version=str(number))
        return self.show_component(name, versions[-1])

    def _component(self, reference: str) -> dict:
        try:
            return assets.resolve(self.store, COMPONENT, reference)
        except ResourceNotFoundError as missing:
            raise ResourceNotFoundError(f"{missing}; register it with 'batch-emulator ml "
                                        "component create -f COMPONENT.yml'") from None

    def _register_component(self, component: dict) -> dict:
        """Store a loaded component: its code copied, its inline environment registered, its
        steps' inline components made references to registered ones."""
        body = self._registrable(copy.deepcopy(component))
        name = body.get("name") or f"azureml_anonymous_{uuid.uuid4().hex[:12]}"
        version = str(body["version"]) if body.get("version") is not None else None
        if version is None and self.store.versions(COMPONENT, name):
            latest = self._component(f"azureml:{name}@latest")  # the same again is that one
            if _definition(latest) == _definition({**body, "name": name,
                                                   "version": latest["version"]}):
                return latest
        existing = self.store.get(COMPONENT, name, version=version) if version else None
        definition = {k: v for k, v in body.items() if k not in _BOOKKEEPING}
        definition.update(name=name)
        if existing is not None:
            if _definition(existing) != _definition({**definition, "version": version}):
                raise ConflictError(f"component {name} version {version} exists with another "
                                    "definition; versions are immutable: register a new version, "
                                    "or omit the version for the next one")
            return existing
        version = version or assets.next_version(self.store, COMPONENT, name)
        stored = {**definition, "version": version,
                  "id": references.arm_id(self.scope, "components", name, version),
                  "creation_context": {"created_at": iso_time(), "created_by": settings.user()}}
        self.store.put(COMPONENT, name, stored, version=version)
        return stored

    def _registrable(self, component: dict) -> dict:
        if component.get("type") == "pipeline":  # a graph that cannot run registers nothing
            components.check_pipeline(self._resolved(component), component.get("name") or
                                      "the pipeline")
        holder = components.runnable(component)  # a parallel component's task holds them
        code = holder.get("code")
        if isinstance(code, str):
            if components.is_reference(code):
                holder["code"] = assets.resolve(self.store, "code", code)["local_path"]
            else:
                holder["code"] = str(assets.register_code(self.store, Path(code)))
        environment = holder.get("environment")
        if isinstance(environment, dict):
            name = environment.get("name") or f"{component.get('name') or 'component'}-env"
            holder["environment"] = self._same_environment(name, environment) or \
                self._register_environment_version({**environment, "name": name}, Path.cwd())
        elif isinstance(environment, str) and components.is_reference(environment):
            asset = assets.resolve(self.store, "environment", environment)
            holder["environment"] = f"azureml:{asset['name']}:{asset['version']}"
        for step in (component.get("jobs") or {}).values():
            inner = step.get("component")
            if isinstance(inner, dict):
                registered = self._register_component(inner)
                step["component"] = f"azureml:{registered['name']}:{registered['version']}"
            elif components.is_reference(inner):
                found = self._component(inner)
                step["component"] = f"azureml:{found['name']}:{found['version']}"
        return component

    def _same_environment(self, name: str, environment: Mapping[str, Any]) -> str | None:
        """The latest registered version of ``name`` when it is this inline environment
        (same image, same conda file content), so registering a component again adds no
        environment version."""
        versions = self.store.versions("environment", name)
        if not versions or environment.get("version") is not None:
            return None
        latest = self.store.get("environment", name, version=versions[-1])
        if latest is None or latest.get("image") != environment.get("image"):
            return None
        try:
            same = (not environment.get("conda_file") and not latest.get("local_path")) or (
                Path(latest["local_path"]).read_bytes() ==
                Path(str(environment["conda_file"])).read_bytes())
        except (OSError, KeyError, TypeError):
            return None
        return f"azureml:{name}:{latest['version']}" if same else None

    def _resolved(self, component: Mapping[str, Any]) -> dict:
        """The component with every step's component reference replaced by its definition."""
        return components.walk_references(component, self._component)

    def _job_component(self, reference: Any) -> dict:
        """The pipeline component a pipeline job (``azureml:<job>``) ran."""
        job_name = reference.removeprefix("azureml:") if isinstance(reference, str) else None
        found = self.store.get_job(job_name) if job_name else None
        if found is None or found[0].get("type") != "pipeline" or not found[0].get("component"):
            raise ResourceNotFoundError(f"job_definition {reference!r} names no pipeline job "
                                        f"of workspace {self.workspace.name!r}; see 'job list'")
        return self._component(found[0]["component"])

    def register_job_component(self, name: str, version: str, job_name: str) -> dict:
        """The pipeline component of job ``job_name`` registered as ``name:version`` with
        ``source_job_id``: Azure's SDK deploys ``job_definition=<job>`` as such a component,
        always ``azureml_anonymous:1``, so that version names the latest job given."""
        component = self._job_component(f"azureml:{job_name}")
        stored = {**component, "name": name, "version": version, "source_job_id": job_name,
                  "id": references.arm_id(self.scope, "components", name, version),
                  "creation_context": {"created_at": iso_time(), "created_by": settings.user()}}
        self.store.put(COMPONENT, name, stored, version=version)
        return documents.component(self.store, stored)

    def pipeline_job_component(self, name: str) -> dict | None:
        """The component a pipeline job (or the pipeline of a step) runs; None for others."""
        document = self.show_job(name)
        reference = document.get("component") if document.get("type") == "pipeline" else None
        return documents.component(self.store, self._component(reference)) if reference \
            else None


def _definition(body: Mapping[str, Any]) -> str:
    """What defines a component version, comparable: everything but the bookkeeping."""
    return json.dumps({k: v for k, v in body.items() if k not in _BOOKKEEPING}, sort_keys=True)
