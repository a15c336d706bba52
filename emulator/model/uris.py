"""Data URIs: local paths, ``file://``, ``folder:``/``file:`` prefixes, ``azureml://datastores``,
and http(s) URLs (public Azure Blob containers, host-style or Azurite's path-style)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse, urlsplit

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


def is_http_url(uri: str) -> bool:
    return str(uri)[:8].lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class BlobUrl:
    """A URL into Azure Blob Storage: the account's URL, a container, a path in it (decoded;
    "" for the whole container) and the query (a SAS token, or "")."""

    account_url: str
    container: str
    path: str
    query: str = ""


_BLOB_HOST = re.compile(r"^[a-z0-9]{3,24}\.blob\.[a-z0-9.-]+$")


def parse_blob_url(uri: str) -> BlobUrl | None:
    """The Azure Blob container an http(s) URL names, else None: host-style
    ``https://<account>.blob.core.windows.net/<container>/<path>``, or path-style
    ``http(s)://<ip-or-localhost>:<port>/<account>/<container>/<path>`` (Azurite, and what
    Azure's SDK writes for it)."""
    if not is_http_url(uri):
        return None
    parts = urlsplit(str(uri))
    host = (parts.hostname or "").lower()
    segments = [unquote(segment) for segment in parts.path.split("/")[1:]]
    base = f"{parts.scheme.lower()}://{parts.netloc}"
    if _BLOB_HOST.match(host):
        if not segments or not segments[0]:
            return None
        return BlobUrl(base, segments[0], "/".join(segments[1:]), parts.query)
    if _loopback_style(host, parts) and len(segments) >= 2 and all(segments[:2]):
        return BlobUrl(f"{base}/{segments[0]}", segments[1], "/".join(segments[2:]),
                       parts.query)
    return None


def _loopback_style(host: str, parts) -> bool:
    """An IP address or localhost with an explicit port: where the account is a path segment."""
    try:
        has_port = parts.port is not None
    except ValueError:  # a port that is not a number
        return False
    if not has_port:
        return False
    if host == "localhost":
        return True
    import ipaddress  # only for a blob URL with a port: reads skip it

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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
    if is_http_url(uri):
        raise InputError(f"{uri}: an http(s) URL can only be read as a job input; write to a "
                         "local path or azureml://datastores/<ds>/paths/<p>")
    if uri.startswith("azureml:") or "://" in uri:
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
