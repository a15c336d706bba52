"""Input files into mini-batches: recursive, sorted by relative path, hidden files skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from emulator.engine.tasks import MiniBatch
from emulator.exceptions import InputError


def list_input_files(path: str | os.PathLike) -> list[str]:
    """The files a job scores, as absolute paths in Azure's order (sorted relative paths).

    A file input is its own single-file list. Hidden files and folders (``.name``) are
    skipped. A missing path, an empty folder or an unreadable entry is an ``InputError``.
    """
    root = Path(path).expanduser()
    if root.is_file():
        _check_readable(root)
        return [os.path.realpath(root)]
    if not root.exists():
        if root.is_symlink():
            raise InputError(f"input path {root} is a broken or looping symbolic link; point "
                             "it at a file or folder")
        raise InputError(f"input path {root} does not exist; pass an existing file or folder")
    if not root.is_dir():
        raise InputError(f"input path {root} is neither a file nor a folder")
    root = Path(os.path.realpath(root))
    relative = _walk(str(root))
    if not relative:
        raise InputError(f"input folder {root} holds no files to score (hidden files are "
                         "skipped); put the data files in it or pass another --input")
    relative.sort()
    return [f"{root}/{name}" for name in relative]


def _walk(root: str) -> list[str]:
    """Relative paths of the visible files below ``root`` (links followed), unsorted.

    ``os.scandir`` answers "is this a file" from the directory entry itself, so a million
    files cost no extra system call each, except where a permission check is needed.
    """
    check_access = os.geteuid() != 0 if hasattr(os, "geteuid") else True
    found: list[str] = []
    pending = [""]
    linked_dirs: set[tuple[int, int]] = set()  # a link back up the tree must not loop
    while pending:
        base = pending.pop()
        folder = f"{root}/{base}" if base else root
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            raise InputError(f"cannot list input folder {folder}: {error.strerror}; fix its "
                             "permissions or leave it out of the input") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = f"{base}/{entry.name}" if base else entry.name
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()
            except OSError:  # a link that loops (ELOOP): neither, so refused as unreadable
                is_dir = is_file = False
            if is_dir:
                if entry.is_symlink():
                    identity = (entry.stat().st_dev, entry.stat().st_ino)
                    target = os.path.realpath(entry.path)
                    if identity in linked_dirs or target == root or target.startswith(root + "/"):
                        continue
                    linked_dirs.add(identity)
                pending.append(name)
            elif not is_file or (check_access and not os.access(entry.path, os.R_OK)):
                _check_readable(entry.path)  # a broken link, a socket, no permission
                found.append(name)
            else:
                found.append(name)
    return found


def _check_readable(file: str | Path) -> None:
    if not os.access(file, os.R_OK) or not os.path.isfile(file):
        raise InputError(f"input file {file} cannot be read (broken link, no permission or "
                         "not a regular file); fix it or remove it from the input")


def partition(files: list[str], mini_batch_size: int) -> Iterator[MiniBatch]:
    """Consecutive runs of ``mini_batch_size`` files, numbered from 0."""
    for number, start in enumerate(range(0, len(files), mini_batch_size)):
        yield MiniBatch(id=number, files=tuple(files[start:start + mini_batch_size]))
