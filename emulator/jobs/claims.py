"""Output ownership: one job at a time writes an output location.

A job claims its output when it is asked for, before anything is scored, with a hidden claim
object created exclusively beside the outputs (a file created with ``O_EXCL`` in a local
folder, a conditional write on object storage): an ``append_row`` job claims its results
file, a ``summary_only`` job the whole folder. A second job that wants the same file, or any
file of a folder claimed whole, is refused at once, naming the owner; nothing of it is
written. The claim goes when the job ends (any end, a dead runner's included); from then on
the outputs themselves guard the location (results files are never overwritten, and a
``summary_only`` folder must be empty).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.engine.outputs import APPEND_ROW
from emulator.exceptions import EmulatorError, OutputExistsError
from emulator.model.specs import BatchDeploymentSettings
from emulator.workspace.datastores import RemoteStore

if TYPE_CHECKING:
    from emulator.jobs.plan import Location

CLAIM = ".batch-emulator-claim"  # the folder's claim; a results file's adds ".<file name>"


def claim_name(settings: BatchDeploymentSettings) -> str:
    if settings.output_action == APPEND_ROW:
        return f"{CLAIM}.{settings.output_file_name}"
    return CLAIM


def claim_output(output: Location, settings: BatchDeploymentSettings, job_name: str) -> None:
    """Make ``job_name`` the owner of its output, or raise ``OutputExistsError`` naming the
    job that owns it."""
    claims = _claims_of(output)
    mine = claim_name(settings)
    try:
        claims.create(mine, job_name)
    except FileExistsError:
        raise _owned(output, claims.owner(mine)) from None
    for other in claims.names():
        if other != mine and (mine == CLAIM or other == CLAIM):
            claims.delete(mine)
            raise _owned(output, claims.owner(other))


def release_output(output: Location, settings: BatchDeploymentSettings, job_name: str) -> None:
    """Give the output up, if ``job_name`` still owns it."""
    claims = _claims_of(output)
    name = claim_name(settings)
    if claims.owner(name) == job_name:
        claims.delete(name)


def _owned(output: Location, owner: str | None) -> OutputExistsError:
    return OutputExistsError(f"output {output.uri} is being written by job {owner or '(unknown)'}; "
                             "one job at a time owns an output: wait for it to end, or choose "
                             "another --output-path or output_file_name")


def _claims_of(output: Location) -> _LocalClaims | _RemoteClaims:
    remote = output.remote
    if remote is not None:
        return _RemoteClaims(remote, output.prefix)
    assert output.path is not None
    return _LocalClaims(output.path)


class _LocalClaims:
    def __init__(self, folder: Path):
        self.folder = folder

    def create(self, name: str, job_name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(job_name)

    def names(self) -> list[str]:
        try:
            return [entry.name for entry in os.scandir(self.folder)
                    if entry.name.startswith(CLAIM)]
        except FileNotFoundError:
            return []

    def owner(self, name: str) -> str | None:
        try:
            return (self.folder / name).read_text(encoding="utf-8")
        except OSError:
            return None

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)


class _RemoteClaims:
    def __init__(self, store: RemoteStore, prefix: str):
        self.store, self.prefix, self.objects = store, prefix, store.objects()

    def _key(self, name: str) -> str:
        return self.store.key(f"{self.prefix}/{name}")

    def create(self, name: str, job_name: str) -> None:
        self.objects.put_if_absent(self._key(name), job_name.encode())

    def names(self) -> list[str]:
        folder = self.store.key(self.prefix).rstrip("/") + "/"
        return [key[len(folder):] for key in self.objects.find(self.store.key(self.prefix))
                if key.startswith(folder + CLAIM) and "/" not in key[len(folder):]]

    def owner(self, name: str) -> str | None:
        with tempfile.TemporaryDirectory(prefix="batch-emulator-claim-") as scratch:
            target = Path(scratch) / "owner"
            try:
                self.objects.get(self._key(name), target)
            except (OSError, EmulatorError):  # gone meanwhile, or the store said so
                return None
            return target.read_text(encoding="utf-8")

    def delete(self, name: str) -> None:
        self.objects.delete(self._key(name))
