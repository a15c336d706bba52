"""batch-endpoint create/show/list/update/delete."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from emulator import documents
from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.validation import load_resource


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
