"""Datastores on object storage (S3-compatible stores, Azure Blob), through fsspec.

A ``RemoteStore`` is what crosses to Dask workers: the fsspec protocol, the bucket or container,
and the storage options. Workers download each mini-batch's files before ``run()`` (Azure's
download mode), so workers on other hosts read inputs from the store itself; the job runner
lists inputs and publishes results there, with a conditional write (``If-None-Match: *``) so
output uniqueness holds on object storage too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.exceptions import EmulatorError, InputError, OutputExistsError


@dataclass(frozen=True)
class RemoteStore:
    protocol: str  # s3 | abfs
    root: str  # bucket or container
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    def filesystem(self):
        import fsspec

        try:
            return fsspec.filesystem(self.protocol, **self.options)
        except ImportError as exc:
            package = {"s3": "s3fs", "abfs": "adlfs"}.get(self.protocol, self.protocol)
            raise EmulatorError(f"datastores of this type need {package}: pip install "
                                f"{package} ({exc})") from None

    def key(self, path: str) -> str:
        """``root/path`` with empty segments (``a//b``, trailing ``/``) dropped."""
        return "/".join([self.root, *(part for part in path.split("/") if part)])

    def url(self, path: str) -> str:
        return f"{self.protocol}://{self.key(path)}"

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "root": self.root, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, values: dict | None) -> RemoteStore | None:
        return cls(**values) if values else None


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
        options = {"account_name": body["account_name"]}
        if credentials.get("account_key"):
            options["account_key"] = credentials["account_key"]
        if credentials.get("sas_token"):
            options["sas_token"] = credentials["sas_token"]
        if body.get("account_url"):
            options["account_url"] = body["account_url"]
        return RemoteStore("abfs", body["container_name"], options)
    return None


def list_files(store: RemoteStore, prefix: str) -> list[str]:
    """Keys below ``prefix`` (or the single object ``prefix``), sorted by relative path,
    hidden names skipped: the same order as local folders."""
    fs = store.filesystem()
    base = store.key(prefix)
    if fs.isfile(base):
        return [base]
    found = fs.find(base)
    relative = sorted(key[len(base) + 1:] for key in found)
    visible = [r for r in relative if r and not any(p.startswith(".") for p in r.split("/"))]
    if not visible:
        raise InputError(f"{store.url(prefix)} holds no files to score; upload the data or pass "
                         "another --input")
    return [f"{base}/{r}" for r in visible]


def download(store: RemoteStore, keys: tuple[str, ...], folder: Path) -> tuple[str, ...]:
    """Local copies of ``keys`` (their paths below the store root kept) for ``run()``."""
    fs = store.filesystem()
    local = []
    for key in keys:
        target = folder / key
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            fs.get_file(key, str(partial))
            os.replace(partial, target)
        local.append(str(target))
    return tuple(local)


def worker_cache(job_name: str) -> Path:
    return Path(tempfile.gettempdir()) / "batch-emulator-inputs" / job_name


def drop_worker_cache(job_name: str) -> None:
    shutil.rmtree(worker_cache(job_name), ignore_errors=True)


def check_absent(store: RemoteStore, key: str, what: str) -> None:
    if store.filesystem().exists(key):
        raise OutputExistsError(f"{what} {store.protocol}://{key} already exists and is never "
                                "overwritten; choose a new --output-path or output_file_name")


def check_output_available(store: RemoteStore, prefix: str, output_action: str,
                           output_file_name: str) -> None:
    """Output uniqueness on object storage: the results file, or a non-empty folder."""
    if output_action == "append_row":
        check_absent(store, store.key(f"{prefix}/{output_file_name}"), "output file")
        return
    fs = store.filesystem()
    if fs.exists(store.key(prefix)) and fs.find(store.key(prefix)):
        raise OutputExistsError(f"output folder {store.url(prefix)} is not empty "
                                "(output_action=summary_only); choose a new --output-path")


def publish(store: RemoteStore, source: Path, key: str) -> None:
    """Upload ``source`` to ``key`` only if nothing is there (a conditional write)."""
    fs = store.filesystem()
    data = source.read_bytes()
    try:
        if store.protocol == "s3":
            fs.pipe_file(key, data, IfNoneMatch="*")
        else:
            with fs.open(key, "xb") as target:
                target.write(data)
    except (FileExistsError, OSError) as exc:
        if isinstance(exc, FileExistsError) or "pre-condition" in str(exc).lower():
            raise OutputExistsError(f"output {store.protocol}://{key} was created by someone else "
                                    "while this job ran; it was left untouched; rerun with a new "
                                    "--output-path") from None
        raise
