"""What every group of operations shares: the workspace, its store, warnings, and the
lookups more than one group needs (endpoints, deployments, data locations, environments)."""

from __future__ import annotations

import os
from pathlib import Path

from emulator.exceptions import InputError, ResourceNotFoundError
from emulator.jobs.plan import Location
from emulator.model.references import Scope
from emulator.model.uris import DEFAULT_DATASTORE, parse_datastore_uri, strip_type_prefix, to_local_path
from emulator.workspace import Workspace, assets, auth, azurite, datastores
from emulator.workspace.config import effective_defaults
from emulator.workspace.datastores import RemoteStore
from emulator.workspace.store import Store


class ServiceBase:
    """One workspace of one home: its store, and the warnings a call produced."""

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
        defaults = {name: value for name, (value, _) in effective_defaults(base.home).items()}
        self.workspace = Workspace(base.home, workspace or defaults.get("workspace") or base.name)
        self.workspace.check_name()
        if not create and not self.workspace.exists():
            raise ResourceNotFoundError(f"workspace {self.workspace.name!r} does not exist in "
                                        f"{base.home}; any create command makes it")
        self.subscription = subscription or defaults.get("subscription") or auth.SUBSCRIPTION_ID
        self.resource_group = resource_group or defaults.get("group") or "local"
        self._store: Store | None = None
        self.warnings: list[str] = []

    @property
    def store(self) -> Store:
        """The workspace's store, opened (and the workspace made) when first needed: commands
        on the home (account, configure, login) leave no workspace behind."""
        if self._store is None:
            self._store = Store(self.workspace, self.subscription, self.resource_group)
        return self._store

    @property
    def scope(self) -> Scope:
        """The subscription, resource group and workspace that ARM ids of this service name."""
        return Scope(self.subscription, self.resource_group, self.workspace.name)

    def blob_store(self) -> RemoteStore | None:
        """``workspaceblobstore`` as a ``RemoteStore`` in Azurite while the home's Azurite runs
        (``serve --azure-compatible``); None when it is the workspace's local folder."""
        return azurite.workspace_store(self.workspace.home, self.workspace.name)

    # ------------------------------------------------------------------ shared lookups

    def _endpoint(self, name: str) -> dict:
        body = self.store.get("endpoint", name)
        if body is None:
            raise ResourceNotFoundError(
                f"batch endpoint {name!r} does not exist in workspace {self.workspace.name!r}; "
                "create it with 'batch-emulator ml batch-endpoint create --name NAME'")
        return body

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

    def _location(self, uri: str) -> Location:
        """Where a data URI points: a prefix in an object-store datastore, else a local path
        (a local path, ``file://``, or a datastore kept as a folder)."""
        uri = strip_type_prefix(str(uri))
        if "\x00" in uri:
            raise InputError(f"{uri!r}: a path with a NUL character; no file system takes one")
        parsed = parse_datastore_uri(uri)
        if parsed is not None:
            store = self._object_store(parsed[0])
            if store is not None:
                return Location(uri, store=store.to_dict(), prefix=parsed[1])
        return Location(uri, path=to_local_path(uri, self._datastore_root))

    def _object_store(self, datastore: str) -> RemoteStore | None:
        if datastore.lower() == DEFAULT_DATASTORE:
            return self.blob_store()
        body = self.store.get("datastore", datastore)
        return datastores.remote_store_for(body) if body else None

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

    def _register_environment_version(self, environment: dict, base: Path) -> str:
        """An environment version (its conda file copied); its ``azureml:`` reference."""
        conda = environment.get("conda_file")
        source = None
        if conda:
            source = (base / strip_type_prefix(conda)).resolve()
            if not source.is_file():
                raise ResourceNotFoundError(f"conda file {source} does not exist; fix "
                                            "environment.conda_file (relative to the YAML)")
        asset, _ = assets.register(self.store, "environment", dict(environment), source)
        return f"azureml:{asset['name']}:{asset['version']}"
