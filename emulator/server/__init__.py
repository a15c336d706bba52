"""The REST front end: Azure's ARM control plane and the batch endpoint data plane."""

from emulator.server.app import create_app

__all__ = ["create_app"]
