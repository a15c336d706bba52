"""Registered assets: models, data, environments and code, copied into the workspace.

Registration copies the artifact (never references it in place) into
``<ws>/<kind>s/<name>/<version>/``, keeping a model's or data folder's base name so that
``$AZUREML_MODEL_DIR/<base name>/...`` works as in Azure.

A folder is copied as Azure uploads it: without what its ``.amlignore`` names, or its
``.gitignore`` when it has no ``.amlignore`` (git's wildcard rules; only the file at the
folder's root counts, as in Azure's SDK), so ``code: .`` does not carry a ``venv/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator import settings
from emulator.exceptions import ConflictError, ResourceNotFoundError, ValidationError
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


IGNORE_FILES = (".amlignore", ".gitignore")  # the first present wins, as in Azure


def ignored_by(folder: Path) -> Callable[[str, bool], bool]:
    """Whether a path relative to ``folder`` (posix, a folder or a file) is left out of its
    upload by the folder's ``.amlignore``, else its ``.gitignore``."""
    ignore_file = next((folder / name for name in IGNORE_FILES if (folder / name).is_file()),
                       None)
    if ignore_file is None:
        return lambda relative, is_dir: False
    import pathspec  # only an upload with an ignore file needs it: reads skip the import

    try:
        lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
        spec = pathspec.GitIgnoreSpec.from_lines(lines)  # git's wildmatch rules
    except (OSError, ValueError) as exc:  # pathspec's pattern errors are ValueErrors
        raise ValidationError(f"{ignore_file}: cannot be read as an ignore file ({exc}); fix "
                              "the pattern or remove the file") from None
    negates = any(pattern.include is False for pattern in spec.patterns)

    def ignored(relative: str, is_dir: bool) -> bool:
        # Azure tests every file; a folder is pruned whole only when no '!pattern' could
        # bring back a file beneath it.
        if is_dir:
            return not negates and spec.match_file(relative + "/")
        return spec.match_file(relative)

    return ignored


def _copy_folder(source: Path, destination: Path) -> None:
    ignored = ignored_by(source)

    def ignore(directory: str, names: list[str]) -> set[str]:
        base = Path(directory).relative_to(source).as_posix()
        left_out = set()
        for name in names:
            relative = name if base == "." else f"{base}/{name}"
            if name == "__pycache__" or ignored(relative, os.path.isdir(Path(directory, name))):
                left_out.add(name)
        return left_out

    shutil.copytree(source, destination, symlinks=False, ignore=ignore)


def copy_artifact(source: Path, target_dir: Path) -> Path:
    """Copy a file or folder into ``target_dir`` under its base name; return the copy."""
    if not source.exists():
        raise ResourceNotFoundError(f"path {source} does not exist; fix --path or the YAML's path")
    staging = target_dir.with_name(f".{target_dir.name}.{os.getpid()}.{time.time_ns()}")
    destination = staging / source.name
    staging.mkdir(parents=True)
    try:
        if source.is_dir():
            _copy_folder(source, destination)
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


CODE_SOURCE = ".copied-from"  # beside a registered code folder: the folder it was copied from


def register_code(store: Store, folder: Path) -> Path:
    """Code is registered by content: the same folder twice is stored once.

    Hidden entries (``.git``, ``.venv``), ``__pycache__``, what the folder's ``.amlignore``
    (else ``.gitignore``) names and the emulator's own home (when a test keeps it inside
    the code folder) are left out. The folder it came from is written beside the copy
    (the last one registered with this content), so that tracebacks can name the user's own
    files (:func:`code_source`).
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
    _write_source(target, folder)
    return target / folder.name


def _write_source(target: Path, folder: Path) -> None:
    source = str(folder.resolve())
    record = target / CODE_SOURCE
    try:
        if record.read_text(encoding="utf-8") == source:
            return
    except OSError:
        pass
    staging = target / f".{CODE_SOURCE}.{os.getpid()}.{time.time_ns()}"
    staging.write_text(source, encoding="utf-8")
    os.replace(staging, record)  # atomic: a reader sees one whole path or the other


def code_source(code_dir: str | Path) -> Path | None:
    """The folder a registered code copy was made from, when ``code_dir`` is one (None for a
    folder used in place, as ``run_batch_job`` does, or a copy registered before this was
    recorded)."""
    code_dir = Path(code_dir)
    if code_dir.parent.parent.parent.name != "codes":  # <ws>/codes/<hash>/1/<folder>
        return None
    try:
        return Path(code_dir.parent.joinpath(CODE_SOURCE).read_text(encoding="utf-8"))
    except OSError:
        return None


def _code_files(folder: Path, home: Path) -> list[str]:
    found = []
    ignored = ignored_by(folder)
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__"
                         and (Path(root) / d).resolve() != home
                         and not ignored((base / d).as_posix(), True))
        found.extend(str(base / name) for name in sorted(files) if not name.startswith(".")
                     and not ignored((base / name).as_posix(), False))
    return found
