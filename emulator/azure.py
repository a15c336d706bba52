"""For Azure's own Python clients: a ``TokenCredential`` that gets tokens from the emulator.

    from azure.ai.ml import MLClient
    from emulator.azure import EmulatorCredential

    ml_client = MLClient(EmulatorCredential(), subscription_id, resource_group, workspace)

with ``REQUESTS_CA_BUNDLE`` and ``ARM_CLOUD_METADATA_URL`` exported as ``batch-emulator serve
--azure-compatible`` prints them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple


class AccessToken(NamedTuple):  # azure.core.credentials.AccessToken's shape
    token: str
    expires_on: int


class EmulatorCredential:
    """Signed tokens from this home's key, for whatever audience a client asks (its scope)."""

    def __init__(self, home: str | os.PathLike | None = None):
        from emulator.workspace import Workspace

        self.home = Path(home) if home else Workspace.open().home

    def get_token(self, *scopes: str, **kwargs: Any):
        from emulator.auth import issue_token

        resource = (scopes[0] if scopes else "https://management.azure.com").removesuffix(
            "/.default").rstrip("/")
        issued = issue_token(self.home, resource)
        try:
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
