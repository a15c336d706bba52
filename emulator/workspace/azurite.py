"""Azurite, the Azure Storage emulator (npm package ``azurite``), as the workspace blob store.

``serve --azure-compatible`` starts ``azurite-blob`` as a child process on loopback, with TLS
from the home's local CA and the flags today's storage SDK needs, and records where it listens
in ``<home>/azurite.json``. While that record names a live process, ``workspaceblobstore`` of
every workspace of the home is a container in Azurite: SDK uploads land there, jobs read their
inputs and write their outputs there. Without it, ``workspaceblobstore`` is a local folder.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from emulator import settings
from emulator.exceptions import StorageUnavailableError
from emulator.workspace.datastores import RemoteStore

ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, in Azurite's source and Microsoft's docs).
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")
RECORD = "azurite.json"
INSTALL_HINT = ("install Node.js 18+ and run 'npm install -g azurite@3' (or, in a checkout, "
                "'npm ci --prefix tools/azurite'), or set BATCH_EMULATOR_AZURITE to an "
                "azurite-blob executable")
# Where the README's 'npm ci --prefix tools/azurite' puts it, relative to a checkout.
CHECKOUT_EXECUTABLE = Path("tools", "azurite", "node_modules", ".bin", "azurite-blob")
_LISTENING = re.compile(r"successfully listens on (https?://\S+)")


def find_executable() -> str | None:
    """``BATCH_EMULATOR_AZURITE``, else ``azurite-blob`` on ``PATH``, else the one the README's
    ``npm ci --prefix tools/azurite`` installed, under the current directory or the checkout
    this package runs from (an editable install); None when there is none."""
    configured = settings.azurite_executable()
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which("azurite-blob")
    if found:
        return found
    checkout = Path(__file__).resolve().parents[2]
    for root in (Path.cwd(), checkout):
        candidate = root / CHECKOUT_EXECUTABLE
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class Azurite:
    """A running ``azurite-blob`` on 127.0.0.1 (a free port), dying with this process; HTTPS
    with ``certificate``/``key`` (what Azure's SDK needs), plain HTTP without them. Recorded
    as the home's blob store only with TLS."""

    def __init__(self, home: Path, certificate: Path | None = None, key: Path | None = None,
                 ca: Path | None = None, timeout: float = 60.0):
        executable = find_executable()
        if executable is None:
            raise StorageUnavailableError(f"Azurite was not found; {INSTALL_HINT}")
        self.home, self.ca = home, ca
        folder = data_folder(home).parent
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "azurite.log"
        log = self.log_path.open("w", encoding="utf-8")
        tls = ["--cert", str(certificate), "--key", str(key)] if certificate else []
        # the scoring side's helper (logging, ctypes) only when Azurite starts: reads skip it
        from emulator.scoring.bootstrap import die_with_parent

        try:
            self.process = subprocess.Popen(
                [executable, "--blobHost", "127.0.0.1", "--blobPort", "0",
                 "--location", str(data_folder(home)), *tls, "--skipApiVersionCheck", "--loose",
                 "--disableTelemetry", "--silent"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent)
        except OSError as exc:
            raise StorageUnavailableError(f"Azurite ({executable}) could not start: "
                                          f"{exc.strerror}; {INSTALL_HINT}") from None
        finally:
            log.close()
        self.url = self._wait_until_listening(timeout)
        self.account_url = f"{self.url}/{ACCOUNT}"
        if ca is not None:
            self._record()

    def _record(self) -> None:
        record = self.home / RECORD
        temporary = record.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"account_url": self.account_url, "ca": str(self.ca),
                                         "pid": self.process.pid}), encoding="utf-8")
        os.replace(temporary, record)

    def _wait_until_listening(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.log_path.read_text(encoding="utf-8", errors="replace"))
            if found:
                return found[1].rstrip("/")
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        tail = self.log_path.read_text(encoding="utf-8", errors="replace").strip()[-400:]
        raise StorageUnavailableError(f"Azurite did not start within {timeout:.0f} s ({tail}); "
                                      f"see {self.log_path}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        record = self.home / RECORD
        if (running(self.home) or {}).get("pid") == self.process.pid:
            record.unlink(missing_ok=True)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def data_folder(home: Path) -> Path:
    return home / "azurite" / "data"


def running(home: Path) -> dict | None:
    """The record of this home's Azurite if its process is alive, else None."""
    try:
        record = json.loads((home / RECORD).read_text(encoding="utf-8"))
        pid = int(record["pid"])
        os.kill(pid, 0)
        command = Path(f"/proc/{pid}/cmdline")
        if command.parent.parent.is_dir() and \
                str(data_folder(home)).encode() not in command.read_bytes():
            return None  # the pid was reused after Azurite died with its server
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record


def container_for(workspace: str) -> str:
    """A workspace's container, named as Azure names it: ``azureml-blobstore-<guid>``."""
    return f"azureml-blobstore-{uuid.uuid5(uuid.NAMESPACE_URL, workspace.lower())}"


def workspace_store(home: Path, workspace: str) -> RemoteStore | None:
    """``workspaceblobstore`` of a workspace, in Azurite; None when Azurite is not running."""
    record = running(home)
    if record is None:
        return None
    store = RemoteStore("azureblob", container_for(workspace), {
        "account_url": record["account_url"], "ca_bundle": record["ca"],
        "credential": {"account_name": ACCOUNT, "account_key": ACCOUNT_KEY}})
    _ensure_container(store)
    return store


_CONTAINERS_MADE: set[tuple[str, str]] = set()


def _ensure_container(store: RemoteStore) -> None:
    made = (store.options["account_url"], store.root)
    if made in _CONTAINERS_MADE:
        return
    # The 'server' extra, which an Azurite-backed home was started with.
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContainerClient

    client = ContainerClient(store.options["account_url"], store.root,
                             credential=store.options["credential"],
                             connection_verify=store.options["ca_bundle"])
    with contextlib.suppress(ResourceExistsError):
        client.create_container()
    _CONTAINERS_MADE.add(made)


def container_sas(container: str, hours: float = 24.0) -> str:
    """A SAS for the whole container: what ``listSecrets`` and upload URLs hand out."""
    from azure.storage.blob import (  # the 'server' extra, as above
        ContainerSasPermissions,
        generate_container_sas,
    )

    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return generate_container_sas(ACCOUNT, container, account_key=ACCOUNT_KEY,
                                  permission=ContainerSasPermissions(
                                      read=True, add=True, create=True, write=True,
                                      delete=True, list=True),
                                  expiry=expiry)
