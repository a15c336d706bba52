"""What every group of operations shares: the workspace, its store, warnings."""

from __future__ import annotations

import os

from emulator import auth
from emulator.config import read_defaults
from emulator.exceptions import ResourceNotFoundError
from emulator.store import Store
from emulator.workspace import Workspace


class ServiceBase:
    """One workspace of one home: its store, and the warnings a call produced."""

    def __init__(self, home: str | os.PathLike | None = None, workspace: str | None = None,
                 resource_group: str | None = None, subscription: str | None = None,
                 jobs_in_threads: bool = False, in_process_scoring: bool = False,
                 create: bool = True):
        """``jobs_in_threads`` runs jobs in this process instead of a runner process each;
        ``in_process_scoring`` also scores in it (both for the pytest plugin). With
        ``create=False`` a workspace that does not exist yet is an error, not created."""
        self.jobs_in_threads = jobs_in_threads
        self.in_process_scoring = in_process_scoring
        base = Workspace.open(home)
        defaults = read_defaults(base.home)
        self.workspace = Workspace(base.home, workspace or defaults.get("workspace") or base.name)
        self.workspace.check_name()
        if not create and not self.workspace.exists():
            raise ResourceNotFoundError(f"workspace {self.workspace.name!r} does not exist in "
                                        f"{base.home}; any create command makes it")
        self.store = Store(self.workspace, subscription or auth.SUBSCRIPTION_ID,
                           resource_group or defaults.get("group") or "local")
        self.warnings: list[str] = []

    def blob_store(self):
        """``workspaceblobstore`` as a ``RemoteStore`` in Azurite while the home's Azurite runs
        (``serve --azure-compatible``); None when it is the workspace's local folder."""
        from emulator import azurite

        return azurite.workspace_store(self.workspace.home, self.workspace.name)
