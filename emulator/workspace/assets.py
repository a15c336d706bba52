"""Registered assets: models, data, environments and code, copied into the workspace.

Registration copies the artifact (never references it in place) into
``<ws>/<kind>s/<name>/<version>/``, keeping a model's or data folder's base name so that
``$AZUREML_MODEL_DIR/<base name>/...`` works as in Azure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from emulator import settings
from emulator.exceptions import ConflictError, ResourceNotFoundError
from emulator.model.references import SEGMENTS, arm_id, parse_reference
from emulator.model.timestamps import iso_time
from emulator.workspace.store import Store, artifact_dir, version_sort_key


def resolve(store: Store, kind: str, reference: str) -> dict:
    """The registered asset a reference names (``@latest``/no version: the newest)."""
    name, version = parse_reference(reference, kind)
    if version is None:
        versions = store.versions(kind, name)
        if not versions:
            raise ResourceNotFoundError(f"{kind} {name!r} is not registered in workspace "
                                        f"{store.workspace.name!r}; create it with "
                                        f"'batch-emulator {kind} create'")
        version = versions[-1]
    asset = store.get(kind, name, version=version)
    if asset is None:
        known = ", ".join(store.versions(kind, name)) or "none"
        raise ResourceNotFoundError(f"{kind} {name}:{version} is not registered (versions: "
                                    f"{known}); create it or fix the reference")
    return asset


def version_key(body: dict) -> tuple:
    return version_sort_key(str(body["version"]))


def next_version(store: Store, kind: str, name: str) -> str:
    numbers = [int(v) for v in store.versions(kind, name) if v.isdigit()]
    return str(max(numbers, default=0) + 1)


def copy_artifact(source: Path, target_dir: Path) -> Path:
    """Copy a file or folder into ``target_dir`` under its base name; return the copy."""
    if not source.exists():
        raise ResourceNotFoundError(f"path {source} does not exist; fix --path or the YAML's path")
    staging = target_dir.with_name(f".{target_dir.name}.{os.getpid()}.{time.time_ns()}")
    destination = staging / source.name
    staging.mkdir(parents=True)
    try:
        if source.is_dir():
            shutil.copytree(source, destination, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination)
        if target_dir.exists():
            shutil.rmtree(target_dir)
        staging.rename(target_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target_dir / source.name


# What defines a version: registering it again with these unchanged is the same version.
IDENTITY = ("path", "type", "image", "conda_file")


def existing_version(store: Store, kind: str, document: dict[str, Any]) -> dict | None:
    """The registered version ``document`` names, when its definition is the same; a
    ``ConflictError`` when it differs (versions are immutable, as in Azure); None when that
    version is not registered (or no version is given)."""
    if document.get("version") is None:
        return None
    existing = store.get(kind, document["name"], version=str(document["version"]))
    if existing is None:
        return None
    changed = [key for key in IDENTITY if (key in existing or key in document)
               and existing.get(key) != document.get(key)]
    if changed:
        raise ConflictError(f"{kind} {existing['name']} version {existing['version']} exists "
                            f"with another {changed[0]}; versions are immutable: register a new "
                            f"version, or omit the version for the next one (registered "
                            f"{changed[0]}: {existing.get(changed[0])!r})")
    return existing


def register(store: Store, kind: str, document: dict[str, Any],
             source: Path | None) -> tuple[dict, bool]:
    """Register a model, data asset or environment version, copying its local artifact:
    (the version, whether it is new). The same version again is the one registered.

    ``document`` is the validated YAML (name, version, path, ...); ``source`` the local path
    to copy (None for references such as datastore URIs).
    """
    existing = existing_version(store, kind, document)
    if existing is not None:
        return existing, False
    name = document["name"]
    version = str(document.get("version") or next_version(store, kind, name))
    body = {**document, "name": name, "version": version}
    if source is not None:
        copied = copy_artifact(source, artifact_dir(store.workspace, kind, name, version))
        body["local_path"] = str(copied)
    body["id"] = arm_id(store.scope, SEGMENTS[kind], name, version)
    body["creation_context"] = {"created_at": iso_time(), "created_by": settings.user()}
    store.put(kind, name, body, version=version)
    return body, True


def register_code(store: Store, folder: Path) -> Path:
    """Code is registered by content: the same folder twice is stored once.

    Hidden entries (``.git``, ``.venv``), ``__pycache__`` and the emulator's own home (when a
    test keeps it inside the code folder) are left out.
    """
    if not folder.is_dir():
        raise ResourceNotFoundError(f"code folder {folder} does not exist; fix "
                                    "code_configuration.code (relative to the YAML file)")
    files = _code_files(folder, store.workspace.home.resolve())
    digest = hashlib.sha256()
    for relative in files:
        digest.update(relative.encode() + b"\0")
        digest.update((folder / relative).read_bytes())
    name = digest.hexdigest()[:16]
    target = artifact_dir(store.workspace, "code", name, "1")
    if store.get("code", name, version="1") is None:
        store.put("code", name, {"name": name, "version": "1", "local_path": str(
            target / folder.name), "id": arm_id(store.scope, "codes", name, "1")}, version="1")
    if not target.exists():
        staging = target.with_name(f".{target.name}.{os.getpid()}.{time.time_ns()}")
        try:
            for relative in files:
                destination = staging / folder.name / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(folder / relative, destination)
            (staging / folder.name).mkdir(parents=True, exist_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(target)
            except OSError:  # registered by a concurrent process meanwhile: same content
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target / folder.name


def _code_files(folder: Path, home: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__"
                         and (Path(root) / d).resolve() != home)
        base = Path(root).relative_to(folder)
        found.extend(str(base / name) for name in sorted(files) if not name.startswith("."))
    return found
