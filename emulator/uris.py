"""Data URIs: local paths, ``file://``, ``folder:``/``file:`` prefixes, ``azureml://datastores``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from emulator.exceptions import InputError, ResourceNotFoundError
from emulator.workspace import DEFAULT_DATASTORE, Workspace

_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<datastore>[^/]+)/paths/(?P<path>.*)$")


def datastore_uri(datastore: str, path: str) -> str:
    return f"azureml://datastores/{datastore}/paths/{path.lstrip('/')}"


def strip_type_prefix(uri: str) -> str:
    """The seed's ``folder:URI`` / ``file:URI`` forms (not ``file://``)."""
    for prefix in ("folder:", "file:"):
        if uri.startswith(prefix) and not uri.startswith("file://"):
            return uri[len(prefix):]
    return uri


def to_local_path(uri: str, workspace: Workspace) -> Path:
    """A local path for a data URI of this workspace; a clear error for anything else."""
    uri = strip_type_prefix(str(uri))
    match = _DATASTORE_URI.match(uri)
    if match:
        datastore = match["datastore"]
        if datastore != DEFAULT_DATASTORE:
            raise ResourceNotFoundError(
                f"datastore {datastore!r} is not registered in workspace {workspace.name!r}; "
                f"use {DEFAULT_DATASTORE} or register it with 'batch-emulator datastore create'")
        return workspace.datastore_dir(datastore) / unquote(match["path"])
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if uri.startswith(("azureml:", "https://", "http://")) or "://" in uri:
        raise InputError(f"{uri}: this kind of URI needs a registered workspace asset or network "
                         "access; pass a local path or azureml://datastores/<ds>/paths/<p>")
    return Path(uri).expanduser()
