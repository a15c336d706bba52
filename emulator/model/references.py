"""Azure's names for things: ``azureml:`` asset references in all their forms, and ARM ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.exceptions import ValidationError
from emulator.model.uris import parse_datastore_uri

PROVIDER = "Microsoft.MachineLearningServices"
_ARM_REFERENCE = re.compile(
    r"^azureml:?/*(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/(?:providers/"
    r"Microsoft\.MachineLearningServices/)?|locations/[^/]+/)?workspaces/[^/]+/"
    r"(?P<segment>models|data|environments|codes|components)/(?P<name>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+)|/versions/labels/(?P<label>[^/]+))?/?$")
_SHORT_REFERENCE = re.compile(
    r"^azureml:/?(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))?$")

SEGMENTS = {"model": "models", "data": "data", "environment": "environments", "code": "codes",
            "component": "components"}


@dataclass(frozen=True)
class Scope:
    """The subscription, resource group and workspace an ARM id names."""

    subscription: str
    resource_group: str
    workspace: str

    @property
    def workspace_id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/"
                f"providers/{PROVIDER}/workspaces/{self.workspace}")


def arm_id(scope: Scope, segment: str, name: str, version: str | None = None) -> str:
    base = f"{scope.workspace_id}/{segment}/{name}"
    return f"{base}/versions/{version}" if version is not None else base


def is_reference(value: str) -> bool:
    return isinstance(value, str) and value.startswith("azureml:") and \
        parse_datastore_uri(value) is None


def parse_reference(reference: str, kind: str) -> tuple[str, str | None]:
    """``(name, version or None for latest)`` of an asset reference in any of Azure's forms."""
    match = _ARM_REFERENCE.match(reference)
    if match and match["segment"] == SEGMENTS[kind]:
        return match["name"], None if match["label"] == "latest" else match["version"]
    match = _SHORT_REFERENCE.match(reference)
    if match:
        if match["label"] not in (None, "latest"):
            raise ValidationError(f"{reference}: only the label @latest is supported")
        return match["name"], match["version"]
    raise ValidationError(f"{reference!r} is not a {kind} reference; use azureml:<name>:<version> "
                          "or azureml:<name>@latest")


def compute_name(compute: str) -> str:
    """``azureml:cpu-cluster``, ``cpu-cluster`` or a compute's ARM id, as its name."""
    name = compute.split(":", 1)[1] if compute.startswith("azureml:") else compute
    return name.rstrip("/").rsplit("/", 1)[-1]
