"""Where a workspace keeps things on disk: ``$BATCH_EMULATOR_HOME/<workspace>/``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from emulator import settings
from emulator.exceptions import ValidationError

DEFAULT_WORKSPACE = "default"


def default_home() -> Path:
    return settings.home()


@dataclass(frozen=True)
class Workspace:
    home: Path
    name: str = DEFAULT_WORKSPACE

    @classmethod
    def open(cls, home: str | Path | None = None, name: str | None = None) -> Workspace:
        return cls(Path(home).expanduser().resolve() if home else default_home().resolve(),
                   name or DEFAULT_WORKSPACE)

    def check_name(self) -> None:
        """Azure's workspace name rule; it also keeps the name a single folder of the home."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}", self.name):
            raise ValidationError(f"workspace name {self.name!r} is not valid: 3-33 letters, "
                                  "digits, '-' or '_', starting with a letter or digit")

    def exists(self) -> bool:
        return (self.root / "workspace.db").is_file()

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
