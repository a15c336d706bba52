"""Asset versions as Azure's SDK registers them: it uploads the files to the workspace blob
store first (Azurite), then PUTs a version naming the blobs. Registration copies them into the
workspace, as every registration does, so jobs never depend on the blobs afterwards."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from emulator import assets, azurite, datastores, mlflow_models
from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.uris import parse_datastore_uri
from emulator.workspace import DEFAULT_DATASTORE

UPLOAD_FOLDER = "LocalUpload"


class UploadOperations:
    # ================================================================== uploads

    def require_blob_store(self) -> datastores.RemoteStore:
        store = self.blob_store()
        if store is None:
            raise azurite.StorageUnavailableError(
                f"{DEFAULT_DATASTORE} needs Azurite, and this home's is not running; start "
                f"'batch-emulator serve --azure-compatible' ({azurite.INSTALL_HINT})")
        return store

    def start_pending_upload(self) -> dict:
        """Where the SDK uploads a code folder: a fresh blob prefix, and a SAS for it."""
        store = self.require_blob_store()
        blob_uri = store.url(f"{UPLOAD_FOLDER}/{uuid.uuid4().hex}")
        return {"blob_uri": blob_uri, "sas_uri": f"{blob_uri}?{azurite.container_sas(store.root)}"}

    def datastore_secrets(self, name: str) -> dict:
        if name.lower() != DEFAULT_DATASTORE:
            raise ResourceNotFoundError(f"datastore {name!r} has no secrets to list here; only "
                                        f"{DEFAULT_DATASTORE} is served to Azure's SDK")
        return {"sas_token": azurite.container_sas(self.require_blob_store().root)}

    def register_uploaded(self, kind: str, name: str, version: str, uri: str,
                          fields: dict[str, Any]) -> tuple[dict, bool]:
        """Register ``kind`` ``name:version`` from ``uri`` (a datastore URI or a blob URL of
        the workspace blob store); (asset, created). A second PUT of a version is answered
        with the version as registered, as Azure's asset versions are immutable."""
        existing = self.store.get(kind, name, version=version)
        if existing is not None:
            return existing, False
        with tempfile.TemporaryDirectory(prefix="batch-emulator-upload-") as scratch:
            source = self._fetch(uri, Path(scratch))
            document = {**fields, "name": name, "version": version, "path": uri}
            if kind == "model" and document.get("type") == "mlflow_model":
                document["flavors"] = mlflow_models.flavors(source)
            return assets.register(self.store, kind, document, source), True

    def find_code(self, content_hash: str) -> list[dict]:
        """Registered code versions with this SDK content hash (the SDK's reuse check)."""
        return [body for body in self.store.list("code")
                if (body.get("properties") or {}).get("hash_sha256") == content_hash]

    def register_inline_environment(self, name: str, version: str,
                                    fields: dict[str, Any]) -> tuple[dict, bool]:
        """An environment whose conda file comes as text in the request (the SDK's way)."""
        existing = self.store.get("environment", name, version=version)
        if existing is not None:
            return existing, False
        document = {k: v for k, v in fields.items() if k != "conda_file" and v is not None}
        document.update(name=name, version=version)
        if not fields.get("conda_file"):
            return assets.register(self.store, "environment", document, None), True
        with tempfile.TemporaryDirectory(prefix="batch-emulator-upload-") as scratch:
            conda = Path(scratch) / "conda.yml"
            conda.write_text(str(fields["conda_file"]), encoding="utf-8")
            document["conda_file"] = "conda.yml"
            return assets.register(self.store, "environment", document, conda), True

    def _fetch(self, uri: str, scratch: Path) -> Path:
        parsed = parse_datastore_uri(uri)
        if parsed is not None:
            remote = self._remote(uri)
            if remote is None:
                local = self._local_path(uri)
                if not local.exists():
                    raise ResourceNotFoundError(f"{uri} does not exist; upload it first")
                return local
            return datastores.download_tree(remote[0], remote[1], scratch)
        store = self.require_blob_store()
        prefix = store.url("") + "/"
        if not uri.split("?", 1)[0].startswith(prefix):
            raise ValidationError(f"{uri} is not in the workspace blob store ({prefix}); upload "
                                  "the artifact there or pass an azureml://datastores/ URI")
        return datastores.download_tree(store, uri.split("?", 1)[0][len(prefix):], scratch)
