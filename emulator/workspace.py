"""Where a workspace keeps things on disk: ``$BATCH_EMULATOR_HOME/<workspace>/``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = "default"
DEFAULT_DATASTORE = "workspaceblobstore"


def default_home() -> Path:
    return Path(os.environ.get("BATCH_EMULATOR_HOME") or Path.home() / ".batch-emulator")


@dataclass(frozen=True)
class Workspace:
    home: Path
    name: str = DEFAULT_WORKSPACE

    @classmethod
    def open(cls, home: str | Path | None = None, name: str | None = None) -> Workspace:
        return cls(Path(home).expanduser().resolve() if home else default_home().resolve(),
                   name or DEFAULT_WORKSPACE)

    @property
    def root(self) -> Path:
        return self.home / self.name

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    def job_dir(self, job_name: str) -> Path:
        return self.jobs_dir / job_name

    def datastore_dir(self, datastore: str) -> Path:
        return self.root / "datastores" / datastore
