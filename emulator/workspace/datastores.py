"""Datastores on object storage: S3-compatible stores (s3fs) and Azure Blob Storage or Azurite
(azure-storage-blob); and inputs on http(s) URLs: a folder (or file) of a public Azure Blob
container, listed and read anonymously, or one file behind any URL, read with urllib.

A ``RemoteStore`` is what crosses to Dask workers: the protocol, the bucket or container, and
how to reach it. Workers download each mini-batch's files before ``run()`` (Azure's
download mode), so workers on other hosts read inputs from the store itself; the job runner
lists inputs and publishes results there, with a conditional write (``If-None-Match: *``) so
output uniqueness holds on object storage too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from emulator.exceptions import (
    EmulatorError,
    InputError,
    MissingObjectError,
    NotSupportedError,
    OutputExistsError,
    StorageUnavailableError,
)
from emulator.model.uris import parse_blob_url

HTTP_TIMEOUT = 30  # seconds to connect, and between reads, for an input on an http(s) URL


@dataclass(frozen=True)
class RemoteStore:
    """An object store and how to reach it; ``objects()`` talks to it."""

    protocol: str  # s3 (s3fs) | azureblob (azure-storage-blob) | http, https (urllib)
    root: str  # bucket or container; host[:port] for http(s)
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    def objects(self) -> _Objects:
        if self.protocol == "azureblob":
            return _BlobObjects(self)
        if self.protocol in ("http", "https"):
            return _HttpObjects(self)
        return _FsspecObjects(self)

    def key(self, path: str) -> str:
        """``root/path`` with empty segments (``a//b``, trailing ``/``) dropped."""
        return "/".join([self.root, *(part for part in path.split("/") if part)])

    def url(self, path: str) -> str:
        if self.protocol == "azureblob":
            return f"{self.options['account_url'].rstrip('/')}/{self.key(path)}"
        return f"{self.protocol}://{self.key(path)}"

    @property
    def endpoint(self) -> str:
        """Where the store is reached, for messages: its endpoint or account URL."""
        return (self.options.get("client_kwargs", {}).get("endpoint_url")
                or self.options.get("account_url")
                or (f"{self.protocol}://{self.root}" if self.protocol.startswith("http")
                    else f"{self.protocol}'s default endpoint"))

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "root": self.root, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, values: dict | None) -> RemoteStore | None:
        return cls(**values) if values else None


class _Objects:
    """The few object operations jobs need; keys are ``root/path`` as ``RemoteStore.key``."""

    def is_file(self, key: str) -> bool: ...
    def find(self, prefix: str) -> list[str]: ...
    def get(self, key: str, path: Path) -> None: ...
    def put_if_absent(self, key: str, data: bytes) -> None:
        """Write ``data`` unless ``key`` exists; FileExistsError if it does (atomically)."""

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it is not there."""


class _FsspecObjects(_Objects):
    def __init__(self, store: RemoteStore):
        import fsspec  # with the optional 'storage' extra (s3fs); only S3 datastores need it

        try:
            self.fs = fsspec.filesystem(store.protocol, **store.options)
        except ImportError as exc:
            raise EmulatorError(f"datastores of this type need s3fs: pip install "
                                f"'batch-endpoint-emulator[storage]' ({exc})") from None

    def is_file(self, key):
        self.fs.invalidate_cache()  # fsspec caches listings; others write to the store too
        return self.fs.isfile(key)

    def find(self, prefix):
        self.fs.invalidate_cache()
        return self.fs.find(prefix) if self.fs.exists(prefix) else []

    def get(self, key, path):
        self.fs.get_file(key, str(path))

    def delete(self, key):
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(key)

    def put_if_absent(self, key, data):
        try:
            self.fs.pipe_file(key, data, IfNoneMatch="*")
        except OSError as exc:
            if isinstance(exc, FileExistsError) or "pre-condition" in str(exc).lower():
                raise FileExistsError(key) from None
            raise


class _BlobObjects(_Objects):
    """Azure Blob Storage (or Azurite) through azure-storage-blob's synchronous client, which
    takes a CA bundle per client (``ca_bundle``: Azurite's certificate from the local CA)."""

    def __init__(self, store: RemoteStore):
        try:  # the optional 'storage' extra; only Azure Blob datastores need it
            from azure.storage.blob import ContainerClient, ExponentialRetry
        except ImportError as exc:
            raise EmulatorError("Azure Blob datastores and inputs need azure-storage-blob: pip "
                                f"install 'batch-endpoint-emulator[storage]' ({exc})") from None
        options = store.options
        self.anonymous = options.get("credential") is None  # a public container's URL
        extra = {"connection_verify": options["ca_bundle"]} if options.get("ca_bundle") else {}
        self.root, self.url = store.root, store.url("")
        # A few quick retries: an unreachable store is an error to report, not to wait out.
        retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2,
                                 random_jitter_range=1)
        self.container = ContainerClient(options["account_url"], store.root,
                                         credential=options.get("credential"),
                                         retry_policy=retry, connection_timeout=10,
                                         read_timeout=60, **extra)

    def _name(self, key: str) -> str:
        return key[len(self.root) + 1:]

    def is_file(self, key):
        name = self._name(key)
        with self._errors(name):
            return bool(name) and self.container.get_blob_client(name).exists()

    def find(self, prefix):
        name = self._name(prefix)
        with self._errors(name):
            return [f"{self.root}/{blob}" for blob in self.container.list_blob_names(
                name_starts_with=f"{name}/" if name else None)]

    def get(self, key, path):
        with self._errors(self._name(key)), open(path, "wb") as handle:
            self.container.download_blob(self._name(key)).readinto(handle)

    def put_if_absent(self, key, data):
        from azure.core.exceptions import ResourceExistsError  # present: see __init__

        try:
            with self._errors(self._name(key)):
                self.container.upload_blob(self._name(key), data, overwrite=False)
        except ResourceExistsError:
            raise FileExistsError(key) from None

    def delete(self, key):
        from azure.core.exceptions import ResourceNotFoundError  # present: see __init__

        with contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(self._name(key))

    @contextlib.contextmanager
    def _errors(self, name: str = ""):
        """Azure's storage errors as the emulator's: a clear line naming the datastore's
        container and what to check in it, or, for a public container read anonymously, the
        URL as given and its public access."""
        from azure.core.exceptions import (  # present: see __init__
            HttpResponseError,
            ResourceExistsError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        url = f"{self.url}/{name}" if name and self.anonymous else self.url  # the URL given
        public = ("the container must allow anonymous access (public access: container, "
                  "which also lets a folder be listed)")
        try:
            yield
        except ResourceExistsError:
            raise
        except ResourceNotFoundError as exc:
            hint = f"check the URL; {public}" if self.anonymous else "upload it or fix the path"
            raise MissingObjectError(f"{url}: not found ({_first_line(exc)}); {hint}") from None
        except ServiceRequestError as exc:
            hint = "the URL and the network" if self.anonymous else "the datastore's account_url"
            raise StorageUnavailableError(f"{url} cannot be reached ({_first_line(exc)}); "
                                          f"check {hint}") from None
        except HttpResponseError as exc:
            hint = public if self.anonymous else "check the datastore's credentials"
            raise EmulatorError(f"{url} refused the request ({exc.status_code}: "
                                f"{_first_line(exc)}); {hint}") from None
        except (AttributeError, TypeError, ValueError) as exc:  # the SDK on another answer
            raise EmulatorError(f"{url} did not answer as Azure Blob Storage does "
                                f"({type(exc).__name__}: {_first_line(exc)}); check the URL; "
                                "for one file on a web server pass --input-type uri_file") \
                from None


class _HttpObjects(_Objects):
    """One file behind an http(s) URL, read with the standard library: it cannot be listed
    or written. Keys are ``host[:port]/path``; the URL's query (a SAS token, a signature)
    is kept in ``options["query"]`` and never shown."""

    def __init__(self, store: RemoteStore):
        self.store = store
        self.query = store.options.get("query") or ""

    def is_file(self, key):
        with self._open(key):  # a GET, not a HEAD: signed URLs are often signed for GET only
            return True

    def find(self, prefix):
        return []

    def get(self, key, path):
        import http.client  # loaded by _open already

        with self._open(key) as response, open(path, "wb") as handle:
            try:
                shutil.copyfileobj(response, handle, 1 << 20)
            except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
                raise StorageUnavailableError(f"{self._shown(key)}: the download broke off "
                                              f"({exc or type(exc).__name__}); rerun the job") \
                    from None

    def put_if_absent(self, key, data):
        raise NotSupportedError(f"{self._shown(key)}: http(s) URLs are read-only inputs; "
                                "write to a local path or a datastore")

    def delete(self, key):
        raise NotSupportedError(f"{self._shown(key)}: http(s) URLs are read-only inputs")

    def _shown(self, key: str) -> str:
        return f"{self.store.protocol}://{key}"

    @contextlib.contextmanager
    def _open(self, key: str):
        # imported when a URL is read: reads of the store never pay for an HTTP client
        import http.client
        import urllib.error
        import urllib.request

        shown = self._shown(key)
        url = f"{self.store.protocol}://{self.store.root}/{quote(key[len(self.store.root) + 1:])}"
        request = urllib.request.Request(f"{url}?{self.query}" if self.query else url,
                                         headers={"User-Agent": "batch-endpoint-emulator"})
        try:
            response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                raise MissingObjectError(f"{shown}: not found (HTTP 404 {exc.reason}); fix the "
                                         "URL") from None
            raise EmulatorError(f"{shown} refused the request (HTTP {exc.code} {exc.reason}); "
                                "check the URL and that it can be read anonymously") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = (exc.reason if isinstance(exc, urllib.error.URLError) else exc) or \
                type(exc).__name__
            raise StorageUnavailableError(f"{shown} cannot be reached ({reason}); check the "
                                          "URL and the network") from None
        with response:
            yield response


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _relative_keys(store: RemoteStore, base: str, keys: list[str]) -> list[str]:
    """Keys below ``base`` relative to it; a name that would climb out of a local folder
    (``..``, ``.``, an empty segment) is refused, never written."""
    relative = []
    for key in keys:
        name = key[len(base) + 1:]
        if not name:
            continue
        if any(part in ("", ".", "..") for part in name.split("/")):
            raise InputError(f"{store.url(key[len(store.root) + 1:])}: object names with '.', "
                             "'..' or empty segments cannot be copied to a folder; rename it")
        relative.append(name)
    return relative


def public_input(uri: str, input_type: str | None) -> tuple[RemoteStore, str, str]:
    """An input on an http(s) URL as a store, the path in it and the input's type. A public
    Azure Blob container's URL (a ``uri_folder``, or no type: a folder or a single blob) is
    listed and read anonymously, as a datastore is; a ``uri_file`` on any URL is one object
    streamed by the worker that scores it. A ``uri_folder`` elsewhere cannot be listed."""
    blob = parse_blob_url(uri)
    if blob is not None and input_type != "uri_file":
        options = {"account_url": blob.account_url, "credential": blob.query or None}
        return RemoteStore("azureblob", blob.container, options), blob.path, \
            input_type or "uri_folder"
    if input_type == "uri_folder":
        raise InputError(f"{uri}: a uri_folder on an http(s) URL must be a public Azure Blob "
                         "container's (https://<account>.blob.core.windows.net/<container>/"
                         "<path>, or http://<ip>:<port>/<account>/<container>/<path> for "
                         "Azurite), which can be listed; for one file pass --input-type uri_file")
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if not parts.hostname or not path.strip("/"):
        raise InputError(f"{uri}: the URL names no file; pass the URL of the file to score")
    return RemoteStore(parts.scheme.lower(), parts.netloc,
                       {"query": parts.query} if parts.query else {}), path, "uri_file"


def remote_store_for(body: dict) -> RemoteStore | None:
    """The object store behind a registered datastore; None for folders on this machine."""
    credentials = body.get("credentials") or {}
    if body.get("type") == "s3":
        options: dict[str, Any] = {}
        if body.get("endpoint_url"):
            options["client_kwargs"] = {"endpoint_url": body["endpoint_url"],
                                        "region_name": body.get("region", "us-east-1")}
        if credentials:
            options.update(key=credentials["access_key_id"],
                           secret=credentials["secret_access_key"])
        return RemoteStore("s3", body["bucket"], options)
    if body.get("type") == "azure_blob" and credentials:
        account_url = body.get("account_url") or (
            f"https://{body['account_name']}.blob.{body['endpoint']}")
        credential: Any = credentials.get("sas_token")
        if credentials.get("account_key"):
            credential = {"account_name": body["account_name"],
                          "account_key": credentials["account_key"]}
        options = {"account_url": account_url, "credential": credential}
        if body.get("ca_bundle"):
            options["ca_bundle"] = body["ca_bundle"]
        return RemoteStore("azureblob", body["container_name"], options)
    return None


def exists(store: RemoteStore, path: str) -> bool:
    """An object at ``path``, or any object below it."""
    objects = store.objects()
    key = store.key(path)
    return objects.is_file(key) or bool(objects.find(key))


def list_files(store: RemoteStore, prefix: str) -> list[str]:
    """Keys below ``prefix`` (or the single object ``prefix``), sorted by relative path,
    hidden names skipped: the same order as local folders."""
    objects = store.objects()
    base = store.key(prefix)
    if objects.is_file(base):
        return [base]
    relative = sorted(_relative_keys(store, base, objects.find(base)))
    visible = [r for r in relative if not any(p.startswith(".") for p in r.split("/"))]
    if not visible:
        raise InputError(f"{store.url(prefix)} holds no files to score; upload the data or pass "
                         "another --input")
    return [f"{base}/{r}" for r in visible]


def download(store: RemoteStore, keys: tuple[str, ...], folder: Path) -> tuple[str, ...]:
    """Local copies of ``keys`` (their paths below the store root kept) for ``run()``."""
    objects = store.objects()
    local = []
    for key in keys:
        target = folder / key
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            try:
                objects.get(key, partial)
            except EmulatorError:
                raise
            except Exception as exc:  # s3fs, botocore, azure: one line naming what and where
                partial.unlink(missing_ok=True)
                raise StorageUnavailableError(
                    f"could not fetch {store.url(key[len(store.root) + 1:])} from "
                    f"{store.endpoint}: {_first_line(exc)}") from None
            os.replace(partial, target)
        local.append(str(target))
    return tuple(local)


def download_tree(store: RemoteStore, prefix: str, folder: Path) -> Path:
    """The object or folder at ``prefix`` copied below ``folder`` under its base name."""
    objects = store.objects()
    base = store.key(prefix)
    if base == store.root:
        raise InputError(f"{store.url(prefix)} names the whole container; name a folder or "
                         "file in it")
    target = folder / base.rsplit("/", 1)[-1]
    if objects.is_file(base):
        objects.get(base, target)
        return target
    names = _relative_keys(store, base, objects.find(base))
    if not names:
        raise InputError(f"{store.url(prefix)} does not exist in its datastore; upload it first")
    for name in names:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        objects.get(f"{base}/{name}", destination)
    return target


def worker_cache(job_name: str) -> Path:
    return Path(tempfile.gettempdir()) / "batch-emulator-inputs" / job_name


def drop_worker_cache(job_name: str) -> None:
    shutil.rmtree(worker_cache(job_name), ignore_errors=True)


def check_absent(store: RemoteStore, key: str, what: str) -> None:
    if store.objects().is_file(key):
        raise OutputExistsError(f"{what} {store.url(key[len(store.root) + 1:])} already exists "
                                "and is never overwritten; choose a new --output-path or "
                                "output_file_name")


def check_output_available(store: RemoteStore, prefix: str, output_action: str,
                           output_file_name: str) -> None:
    """Output uniqueness on object storage: the results file, or a non-empty folder."""
    if output_action == "append_row":
        check_absent(store, store.key(f"{prefix}/{output_file_name}"), "output file")
        return
    visible = [key for key in store.objects().find(store.key(prefix))
               if not key.rsplit("/", 1)[-1].startswith(".")]  # claims are hidden objects
    if visible:
        raise OutputExistsError(f"output folder {store.url(prefix)} is not empty "
                                "(output_action=summary_only); choose a new --output-path")


def publish(store: RemoteStore, source: Path, key: str) -> None:
    """Upload ``source`` to ``key`` only if nothing is there (a conditional write)."""
    try:
        store.objects().put_if_absent(key, source.read_bytes())
    except FileExistsError:
        raise OutputExistsError(f"output {store.url(key[len(store.root) + 1:])} was created by "
                                "someone else while this job ran; it was left untouched; rerun "
                                "with a new --output-path") from None
