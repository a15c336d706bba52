"""A workspace and its storage: the home's layout, the SQLite store, registered assets,
datastores (local folders, S3, Azure Blob, Azurite), tokens and certificates of the home."""

from emulator.model.uris import DEFAULT_DATASTORE
from emulator.workspace.layout import DEFAULT_WORKSPACE, Workspace

__all__ = ["DEFAULT_DATASTORE", "DEFAULT_WORKSPACE", "Workspace"]
