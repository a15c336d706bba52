"""model/data/environment/datastore operations, and the account."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emulator import settings
from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.model import mlflow_models, references
from emulator.model.uris import DEFAULT_DATASTORE, parse_datastore_uri, strip_type_prefix
from emulator.model.validation import load_resource
from emulator.service import documents
from emulator.workspace import Workspace, assets, auth, azurite
from emulator.workspace.config import effective_defaults, write_defaults
from emulator.workspace.store import Store


class AssetOperations:
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
        reference = self._register_environment_version(body, origin)
        name, version = references.parse_reference(reference, "environment")
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
        return assets.register(self.store, kind, body, source)[0]

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

    def list_asset_versions(self, kind: str, name: str, top: int | None = None) -> list[dict]:
        """Every version of one asset, newest first (the SDK asks for the latest this way)."""
        found = sorted(self.store.list(kind, name=name), key=assets.version_key, reverse=True)
        return found[:top]

    def show_asset_container(self, kind: str, name: str) -> dict:
        """An asset's name with its latest and next version (Azure's asset container)."""
        latest = self.show_asset(kind, name)
        return {"name": latest["name"], "latest": latest,
                "next_version": assets.next_version(self.store, kind, latest["name"])}

    def delete_asset(self, kind: str, name: str, version: str | None = None) -> None:
        if version is None and kind in ("model", "data", "environment"):
            raise ValidationError(f"pass --version: which version of {kind} {name} to delete")
        if not self.store.delete(kind, name, version=version):
            what = f"{kind} {name}" + (f":{version}" if version else "")
            raise ResourceNotFoundError(f"{what} does not exist in workspace "
                                        f"{self.workspace.name!r}")

    # ----------------------------------------------------------------- datastores

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
        body["id"] = references.arm_id(self.scope, "datastores", body["name"])
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
        """A local folder, or a container in Azurite while ``serve --azure-compatible`` runs."""
        body = {"name": DEFAULT_DATASTORE, "type": "azure_blob", "account_name": "local",
                "container_name": "azureml-blobstore", "is_default": True,
                "path": str(self.workspace.datastore_dir(DEFAULT_DATASTORE)),
                "id": references.arm_id(self.scope, "datastores", DEFAULT_DATASTORE)}
        blob_store = self.blob_store()
        if blob_store is not None:
            del body["path"]
            body.update(account_name=azurite.ACCOUNT, container_name=blob_store.root,
                        account_url=blob_store.options["account_url"],
                        ca_bundle=blob_store.options["ca_bundle"])
        return body

    # ================================================================== account

    def list_defaults(self) -> list[dict]:
        """``configure -l``: the home's defaults, where they are kept."""
        return [{"name": name, "source": source, "value": value}
                for name, (value, source) in effective_defaults(self.workspace.home).items()]

    def set_defaults(self, assignments: list[str]) -> list[dict]:
        """``configure --defaults name=value`` (an empty value removes one)."""
        write_defaults(self.workspace.home, assignments)
        return self.list_defaults()

    def show_workspace(self) -> dict:
        """``az ml workspace show``: the workspace this service serves (it must exist)."""
        if not self.workspace.exists():
            raise ResourceNotFoundError(
                f"workspace {self.workspace.name!r} does not exist in {self.workspace.home}; "
                f"workspaces: {', '.join(self.workspace_names()) or 'none yet'}")
        return documents.workspace(self.store)

    def list_workspaces(self) -> list[dict]:
        """Every workspace of the home."""
        return [documents.workspace(Store(Workspace(self.workspace.home, name),
                                          self.subscription, self.resource_group))
                for name in self.workspace_names()]

    def workspace_names(self) -> list[str]:
        home = self.workspace.home
        return sorted(p.name for p in home.iterdir() if Workspace(home, p.name).exists()) \
            if home.is_dir() else []

    def set_subscription(self, subscription: str) -> dict:
        """``az account set``: the subscription id resource ids carry from now on."""
        write_defaults(self.workspace.home, [f"subscription={subscription}"])
        self.subscription, self._store = subscription, None
        return self.show_account()

    def get_access_token(self, resource: str | None = None) -> dict:
        return auth.issue_token(self.workspace.home, resource or auth.MANAGEMENT_RESOURCE)

    def show_account(self) -> dict:
        user = settings.user()
        return {"environmentName": "AzureCloud", "id": self.subscription,
                "isDefault": True, "name": "batch-emulator", "state": "Enabled",
                "tenantId": auth.TENANT_ID, "homeTenantId": auth.TENANT_ID,
                "user": {"name": user, "type": "user"}}


def _redacted(body: dict) -> dict:
    """Datastore secrets are stored (in the owner-only store), never shown: as Azure does,
    ``show`` and ``list`` omit them; the kinds of credential stay visible."""
    if "credentials" not in body:
        return body
    return {**body, "credentials": {"kinds": sorted(body["credentials"])}}
