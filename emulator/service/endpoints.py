"""batch-endpoint create/show/list/update/delete."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.model.specs import Updates
from emulator.model.validation import load_resource
from emulator.service import documents


class EndpointOperations:
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
                        defaults: Mapping[str, str] | None = None,
                        add: Iterable[Sequence[str]] = (), remove: Iterable[Sequence[str]] = (),
                        force_string: bool = False) -> dict:
        """``--set``/``--add``/``--remove`` (az's generic update) or a YAML file."""
        current = self._endpoint(name)
        settable = [*set_values, *(f"defaults.{k}={v}" for k, v in (defaults or {}).items())]
        if file:
            current = load_resource("batch_endpoint", file, [f"name={current['name']}"])
        updates = Updates.of(settable, add, remove, force_string)
        body = load_resource("batch_endpoint", None, (), base=updates.apply(current))
        if body["name"].lower() != current["name"].lower():
            raise ValidationError(f"cannot rename endpoint {current['name']!r} to "
                                  f"{body['name']!r}; create a new endpoint instead")
        self._check_default_deployment(body)
        self.store.put("endpoint", body["name"], body)
        return documents.endpoint(self.store, body)

    def put_endpoint(self, name: str, document: Mapping) -> tuple[dict, bool]:
        """Create or replace the endpoint (an ARM PUT): (the endpoint, whether it is new)."""
        created = self.store.get("endpoint", name) is None
        return self.create_endpoint(document={**document, "name": name}), created

    def patch_endpoint(self, name: str, changes: Mapping) -> dict:
        """Change the given fields of the endpoint, keep the others (an ARM PATCH)."""
        current = self._endpoint(name)
        merged = {**current, **{key: value for key, value in changes.items() if key != "name"}}
        return self.create_endpoint(document=merged)

    def delete_endpoint(self, name: str, missing_ok: bool = False) -> bool:
        """Delete the endpoint and its deployments; its jobs stay (as in Azure). False when
        there was nothing to delete and ``missing_ok``."""
        if missing_ok and self.store.get("endpoint", name) is None:
            return False
        endpoint = self._endpoint(name)
        with self.store.transaction() as connection:
            self.store.delete_children("deployment", endpoint["name"], connection)
            self.store.delete("endpoint", endpoint["name"], connection=connection)
        return True

    def endpoint_exists(self, name: str) -> bool:
        return self.store.get("endpoint", name) is not None

    def _check_default_deployment(self, body: dict) -> None:
        default = (body.get("defaults") or {}).get("deployment_name")
        if default and self.store.get("deployment", default, parent=body["name"]) is None:
            raise ResourceNotFoundError(
                f"deployment {default!r} does not exist under endpoint {body['name']!r}; create "
                "it before making it the default")
