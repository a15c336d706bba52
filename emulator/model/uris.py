"""Data URIs: local paths, ``file://``, ``folder:``/``file:`` prefixes, ``azureml://datastores``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from emulator.exceptions import InputError

DEFAULT_DATASTORE = "workspaceblobstore"

_DATASTORE_URI = re.compile(  # the short form, or the long one Azure's SDK writes
    r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/(?:providers/"
    r"Microsoft\.MachineLearningServices/)?workspaces/[^/]+/)?datastores/(?P<datastore>[^/]+)/"
    r"paths/(?P<path>.*)$")


def datastore_uri(datastore: str, path: str) -> str:
    return f"azureml://datastores/{datastore}/paths/{path.lstrip('/')}"


def strip_type_prefix(uri: str) -> str:
    """The seed's ``folder:URI`` / ``file:URI`` forms (not ``file://``)."""
    for prefix in ("folder:", "file:"):
        if uri.startswith(prefix) and not uri.startswith("file://"):
            return uri[len(prefix):]
    return uri


def parse_datastore_uri(uri: str) -> tuple[str, str] | None:
    """``(datastore, path)`` of an ``azureml://[subscriptions/…/workspaces/<ws>/]datastores/<ds>/paths/<p>``
    URI, else None."""
    match = _DATASTORE_URI.match(strip_type_prefix(str(uri)))
    return (match["datastore"], unquote(match["path"])) if match else None


def to_local_path(uri: str, datastore_root: Callable[[str], Path]) -> Path:
    """A local path for a data URI; a clear error for anything that is not local.

    ``datastore_root`` maps a datastore name to its local folder (or raises for one that is
    not registered).
    """
    uri = strip_type_prefix(str(uri))
    parsed = parse_datastore_uri(uri)
    if parsed:
        datastore, path = parsed
        return _inside(datastore_root(datastore), path, uri)
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if uri.startswith(("azureml:", "https://", "http://")) or "://" in uri:
        raise InputError(f"{uri}: this kind of URI needs a registered workspace asset or network "
                         "access; pass a local path or azureml://datastores/<ds>/paths/<p>")
    return Path(uri).expanduser()


def _inside(root: Path, path: str, uri: str) -> Path:
    """``root/path``, refused when ``path`` climbs out of the datastore with ``..`` (checked
    on the names, so links inside a datastore folder keep working)."""
    local = Path(os.path.normpath(root / path.lstrip("/")))
    if local != Path(os.path.normpath(root)) and Path(os.path.normpath(root)) not in local.parents:
        raise InputError(f"{uri}: the path leaves the datastore; paths are relative to its root")
    return local
