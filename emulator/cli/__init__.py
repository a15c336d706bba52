"""The command line; for now the demo and a direct ``run`` of a deployment YAML."""

from emulator.cli.main import main

__all__ = ["main"]
