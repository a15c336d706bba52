"""Operations on the home rather than on one workspace: where the home is, its access tokens,
its defaults, the record of a running server, its TLS certificates and its Azurite.

The front ends (the CLI's ``serve``, ``configure`` and ``account``, the REST server, and
``emulator.azure``) call these instead of reaching into the workspace layer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from collections.abc import Iterator
from pathlib import Path

from emulator.exceptions import StorageUnavailableError
from emulator.jobs import locks
from emulator.workspace import Workspace, auth, azurite, tls

ML_RESOURCE = auth.ML_RESOURCE
MANAGEMENT_RESOURCE = auth.MANAGEMENT_RESOURCE
SERVER_RECORD = "server.json"
SERVER_LOCK = "server.lock"  # held (shared) by every running serve of the home
AZURITE_INSTALL_HINT = azurite.INSTALL_HINT


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The home given, else ``$BATCH_EMULATOR_HOME``, else ``~/.batch-emulator``; absolute."""
    return Workspace.open(home).home


def open_workspace(home: Path, workspace: str | None = None) -> str:
    """The name of the workspace a server serves (the one named, else the configured default),
    created if it is new: in Azure it exists before the SDK's first call, which is a read."""
    # Imported here: the service's operations pull in the engine, which this module avoids.
    from emulator.service.operations import BatchService

    service = BatchService(home=home, workspace=workspace)
    return service.store.workspace.name  # the store, opened, makes the workspace


def issue_token(home: Path, resource: str = MANAGEMENT_RESOURCE,
                lifetime: int = auth.TOKEN_LIFETIME_SECONDS) -> dict:
    """``az account get-access-token``'s answer, signed with the home's key."""
    return auth.issue_token(home, resource, lifetime=lifetime)


def verify_token(home: Path, token: str, resource: str, also: tuple[str, ...] = ()) -> dict:
    """The token's claims, or ``AuthenticationError`` saying what is wrong with it."""
    return auth.verify_token(home, token, resource, also)


def record_server(home: Path, url: str) -> None:
    """Where ``serve`` listens: scoring URIs and Studio links use it (SPEC §10)."""
    home.mkdir(parents=True, exist_ok=True)
    record = home / SERVER_RECORD
    temporary = record.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    os.replace(temporary, record)


@contextlib.contextmanager
def serving(home: Path, url: str) -> Iterator[None]:
    """Record ``url`` as the home's server while the block runs: job documents then link to
    its Studio pages; without a live server they link to the job's folder."""
    record_server(home, url)
    held = locks.hold(home / SERVER_LOCK, shared=True)
    try:
        yield
    finally:
        if held is not None:
            held.close()


def running_server(home: Path) -> str | None:
    """The URL of the home's live server, if one runs (else None)."""
    if not locks.in_use(home / SERVER_LOCK):
        return None
    try:
        return json.loads((home / SERVER_RECORD).read_text(encoding="utf-8"))["url"].rstrip("/")
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``; a host name may resolve to anything."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def certificates(home: Path) -> tuple[Path, Path, Path]:
    """The home's local CA, and a server certificate and key it signed (created once)."""
    return tls.ensure_certificates(home)


def running_blob_store(home: Path) -> dict | None:
    """The home's running Azurite (``account_url``, ``pid``), if any."""
    return azurite.running(home)


@contextlib.contextmanager
def blob_store(home: Path, certificate: Path, key: Path, ca: Path,
               say=print) -> Iterator[None]:
    """Azurite as the workspace blob store while the block runs: started, or shared with
    another server of the home, or (when it is not installed) a warning and none."""
    shared = azurite.running(home)
    if shared is not None:  # another server of this home runs one; two would share its files
        say(f"Azurite of this home already serves workspaceblobstore at "
            f"{shared['account_url']} (pid {shared['pid']}); using it")
        yield
        return
    try:
        started = azurite.Azurite(home, certificate, key, ca)
    except StorageUnavailableError as exc:
        say(f"warning: {exc}. Serving without it: workspaceblobstore stays a local folder, "
            "and the SDK's uploads and jobs.download need it.")
        yield
        return
    say(f"Azurite serves workspaceblobstore at {started.account_url} (log: "
        f"{started.log_path})")
    with started:
        yield
