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
        return [str(root.resolve())]
    if not root.exists():
        raise InputError(f"input path {root} does not exist; pass an existing file or folder")
    if not root.is_dir():
        raise InputError(f"input path {root} is neither a file nor a folder")
    root = root.resolve()

    def refuse(error: OSError) -> None:
        raise InputError(f"cannot list input folder {error.filename}: {error.strerror}; "
                         "fix its permissions or leave it out of the input")

    relative: list[str] = []
    prefix = len(str(root)) + 1
    for folder, dirs, files in os.walk(root, onerror=refuse, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = folder[prefix:]
        for name in files:
            if name.startswith("."):
                continue
            relative.append(f"{base}/{name}" if base else name)
    if not relative:
        raise InputError(f"input folder {root} holds no files to score (hidden files are "
                         "skipped); put the data files in it or pass another --input")
    relative.sort()
    absolute = [f"{root}/{name}" for name in relative]
    for file in absolute:
        _check_readable(file)
    return absolute


def _check_readable(file: str | Path) -> None:
    if not os.access(file, os.R_OK):
        raise InputError(f"input file {file} cannot be read (broken link or no permission); "
                         "fix it or remove it from the input")


def partition(files: list[str], mini_batch_size: int) -> Iterator[MiniBatch]:
    """Consecutive runs of ``mini_batch_size`` files, numbered from 0."""
    for number, start in enumerate(range(0, len(files), mini_batch_size)):
        yield MiniBatch(id=number, files=tuple(files[start:start + mini_batch_size]))
