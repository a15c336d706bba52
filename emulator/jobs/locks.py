"""The flock locks that tell a live process from a dead one without trusting pids.

Whoever carries a job holds an exclusive lock on its ``runner.lock``; a compute's host
process holds one on its ``host.lock``. The lock dies with the process (killed, machine
rebooted), and readers probe it with a shared lock. A ``serve`` holds the home's
``server.lock`` shared (several may serve one home), probed with an exclusive one.
These are POSIX ``flock`` locks on purpose: the one kind a child process inherits with its
descriptor (and that can be handed to another process over a Unix socket), which
``filelock`` cannot do. ``fcntl`` is imported where a lock is taken, so the package imports
on every platform.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import IO


def hold(path: Path, blocking: bool = True, shared: bool = False) -> IO | None:
    """A lock on ``path`` (exclusive, or ``shared`` with other holders), held until the
    returned handle is closed; None when ``blocking`` is False and it cannot be had now."""
    fcntl = _fcntl()
    handle = open(path, "ab")  # noqa: SIM115 - held by the caller
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                    | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        handle.close()
        if blocking:
            raise
        return None
    return handle


def held(path: Path) -> bool:
    """True while some process holds ``path`` exclusively."""
    return _refused(path, shared=True)


def in_use(path: Path) -> bool:
    """True while some process holds ``path``, shared or exclusively."""
    return _refused(path, shared=False)


def _refused(path: Path, shared: bool) -> bool:
    """Whether a probe lock on ``path`` (shared, or exclusive) cannot be had now."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False
    fcntl = _fcntl()
    with handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _fcntl() -> ModuleType:
    # Imported here, not at the top: POSIX only, and the package must import everywhere.
    import fcntl

    return fcntl
