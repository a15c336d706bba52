"""For Azure's own Python clients: a ``TokenCredential`` that gets tokens from the emulator.

    from azure.ai.ml import MLClient
    from emulator.azure import EmulatorCredential

    ml_client = MLClient(EmulatorCredential(), subscription_id, resource_group, workspace)

with ``REQUESTS_CA_BUNDLE`` and ``ARM_CLOUD_METADATA_URL`` exported as ``batch-emulator serve
--azure-compatible`` prints them. ``AzureCompatibleServer`` runs that server for a test or a
script and hands over those exports.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

from emulator.service import home as home_operations


class AccessToken(NamedTuple):  # azure.core.credentials.AccessToken's shape
    token: str
    expires_on: int


class EmulatorCredential:
    """Signed tokens from this home's key, for whatever audience a client asks (its scope)."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home) if home else home_operations.resolve_home()

    def get_token(self, *scopes: str, **kwargs: Any):
        resource = (scopes[0] if scopes else "https://management.azure.com").removesuffix(
            "/.default").rstrip("/")
        issued = home_operations.issue_token(self.home, resource)
        try:  # azure-core is the SDK's; without it, a tuple of the same shape
            from azure.core.credentials import AccessToken as AzureAccessToken

            return AzureAccessToken(issued["accessToken"], issued["expires_on"])
        except ImportError:
            return AccessToken(issued["accessToken"], issued["expires_on"])

    def close(self) -> None:
        """Nothing to release (azure-core calls it)."""

    def __enter__(self) -> EmulatorCredential:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AzureCompatibleServer:
    """``batch-emulator serve --azure-compatible`` on a free port over ``home``, in its own
    process (with its Azurite), ready when the constructor returns.

    ``exports`` is the environment Azure's clients need (``REQUESTS_CA_BUNDLE``,
    ``ARM_CLOUD_METADATA_URL``, ``BATCH_EMULATOR_HOME``); ``url`` the server's base URL.
    ``stop()`` ends it, and its Azurite, and returns what it wrote on stderr.
    """

    def __init__(self, home: str | os.PathLike, *options: str, env: dict | None = None,
                 timeout: float = 60.0):
        env = {**os.environ, **(env or {}), "BATCH_EMULATOR_HOME": str(home)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve", "--port", "0", "--azure-compatible",
             *options], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.exports: dict[str, str] = {}
        while len(self.exports) < 3:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the server did not start: {self.stop()}")
            name, _, value = line.removeprefix("export ").strip().partition("=")
            self.exports[name] = value
        self.url = self.exports["ARM_CLOUD_METADATA_URL"].split("/metadata/")[0]
        self._wait_until_healthy(timeout)

    def _wait_until_healthy(self, timeout: float) -> None:
        trusted = ssl.create_default_context(cafile=self.exports["REQUESTS_CA_BUNDLE"])
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", context=trusted, timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the server did not answer: {self.stop()}") from None
                time.sleep(0.05)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process.stdout.close()
        errors = self.process.stderr.read()
        self.process.stderr.close()
        return errors

    def __enter__(self) -> AzureCompatibleServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
