"""Asset versions as Azure's SDK registers them: it uploads the files to the workspace blob
store first (Azurite), then PUTs a version naming the blobs. Registration copies them into the
workspace, as every registration does, so jobs never depend on the blobs afterwards."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from emulator.exceptions import (
    ResourceNotFoundError,
    StorageUnavailableError,
    ValidationError,
)
from emulator.model import mlflow_models
from emulator.model.uris import parse_datastore_uri
from emulator.model.validation import load_resource
from emulator.workspace import DEFAULT_DATASTORE, assets, azurite, datastores

UPLOAD_FOLDER = "LocalUpload"


class UploadOperations:
    # ================================================================== uploads

    def require_blob_store(self) -> datastores.RemoteStore:
        store = self.blob_store()
        if store is None:
            raise StorageUnavailableError(
                f"{DEFAULT_DATASTORE} needs Azurite, which is not running for this home: "
                "'batch-emulator serve --azure-compatible' starts it when it finds azurite-blob "
                f"(its first lines say whether it did); {azurite.INSTALL_HINT}, then restart "
                "the server")
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
        the workspace blob store); (asset, created). Versions are immutable, as in Azure: the
        same PUT again is answered with the version, a different one is refused."""
        uri = str(uri).split("?", 1)[0]  # a SAS is for the upload, not for the record
        document = self._checked(kind, {**fields, "name": name, "version": version, "path": uri})
        existing = assets.existing_version(self.store, kind, document)
        if existing is not None:
            return existing, False
        with tempfile.TemporaryDirectory(prefix="batch-emulator-upload-") as scratch:
            source = self._fetch(uri, Path(scratch))
            if kind == "model" and document.get("type") == "mlflow_model":
                document["flavors"] = mlflow_models.flavors(source)
            return assets.register(self.store, kind, document, source)

    def find_code(self, content_hash: str) -> list[dict]:
        """Registered code versions with this SDK content hash (the SDK's reuse check)."""
        return [body for body in self.store.list("code")
                if isinstance(body.get("properties"), dict)
                and body["properties"].get("hash_sha256") == content_hash]

    def register_inline_environment(self, name: str, version: str,
                                    fields: dict[str, Any]) -> tuple[dict, bool]:
        """An environment whose conda file comes as text in the request (the SDK's way)."""
        conda = fields.get("conda_file")
        if isinstance(conda, dict):
            import yaml  # only an SDK upload with a conda mapping needs it

            conda = yaml.safe_dump(conda, sort_keys=False)
        if conda is not None and not isinstance(conda, str):
            raise ValidationError("properties.condaFile must be the conda file's YAML text")
        document = {k: v for k, v in fields.items() if k != "conda_file" and v is not None}
        document = self._checked("environment", {**document, "name": name, "version": version,
                                                 **({"conda_file": "conda.yml"} if conda else {})})
        existing = assets.existing_version(self.store, "environment", document)
        if existing is not None:
            return existing, False
        if not conda:
            return assets.register(self.store, "environment", document, None)
        with tempfile.TemporaryDirectory(prefix="batch-emulator-upload-") as scratch:
            conda_path = Path(scratch) / "conda.yml"
            conda_path.write_text(conda, encoding="utf-8")
            return assets.register(self.store, "environment", document, conda_path)

    def _checked(self, kind: str, document: dict) -> dict:
        """The document validated by the kind's schema, defaults filled (code has none: its
        few fields are checked here)."""
        if kind != "code":
            return load_resource(kind, base=document)
        for key, expected in (("description", str), ("tags", dict), ("properties", dict)):
            if key in document and not isinstance(document[key], expected):
                raise ValidationError(f"properties.{key} must be a "
                                      f"{'string' if expected is str else 'JSON object'}")
        return document

    def _fetch(self, uri: str, scratch: Path) -> Path:
        parsed = parse_datastore_uri(uri)
        if parsed is not None:
            location = self._location(uri)
            if location.remote is None:
                if not location.path.exists():
                    raise ResourceNotFoundError(f"{uri} does not exist; upload it first")
                return location.path
            return datastores.download_tree(location.remote, location.prefix, scratch)
        store = self.require_blob_store()
        prefix = store.url("") + "/"
        if not uri.startswith(prefix):
            raise ValidationError(f"{uri} is not in the workspace blob store ({prefix}); upload "
                                  "the artifact there or pass an azureml://datastores/ URI")
        return datastores.download_tree(store, uri[len(prefix):], scratch)
