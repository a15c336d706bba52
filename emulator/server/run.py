"""``batch-emulator serve``: bind, record the URL in the home (scoring URIs use it), serve."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys

import click

from emulator.workspace import Workspace


def serve(host: str, port: int, workspace: str | None = None,
          azure_compatible: bool = False, with_azurite: bool = False) -> None:
    import uvicorn

    from emulator.server.app import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror}); choose "
                                   "another --port") from None
    sock.listen(2048)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    home = Workspace.open().home
    ssl: dict = {}
    if azure_compatible:
        from emulator.workspace.tls import ensure_certificates

        ca, cert, key = ensure_certificates(home)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    url = f"{'https' if azure_compatible else 'http'}://{shown}:{bound}"
    record = home / "server.json"
    home.mkdir(parents=True, exist_ok=True)
    temporary = record.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    os.replace(temporary, record)
    if workspace:
        os.environ["BATCH_EMULATOR_SERVER_WORKSPACE"] = workspace
    click.echo(f"batch-emulator serving {home} at {url} (Ctrl+C to stop)", err=True)
    if azure_compatible:
        click.echo(f"export REQUESTS_CA_BUNDLE={ca}\n"
                   f"export ARM_CLOUD_METADATA_URL={url}/metadata/endpoints?api-version=2019-05-01"
                   f"\nexport BATCH_EMULATOR_HOME={home}", nl=True)
        sys.stdout.flush()
    config = uvicorn.Config(create_app(home, azure_compatible=azure_compatible),
                            log_level="warning", access_log=False, **ssl)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler found before
    # it started: this one, so Azurite is stopped on the way out instead of orphaned.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with contextlib.ExitStack() as stack:
            if with_azurite:
                stack.enter_context(_start_azurite(home, cert, key, ca))
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


def _start_azurite(home, certificate, key, ca):
    """Azurite as the workspace blob store, or a warning and a server without it."""
    from emulator.exceptions import StorageUnavailableError
    from emulator.workspace.azurite import Azurite, running

    shared = running(home)
    if shared is not None:  # another server of this home runs one; two would share its files
        click.echo(f"Azurite of this home already serves workspaceblobstore at "
                   f"{shared['account_url']} (pid {shared['pid']}); using it", err=True)
        return contextlib.nullcontext()
    try:
        azurite = Azurite(home, certificate, key, ca)
    except StorageUnavailableError as exc:
        click.echo(f"warning: {exc}. Serving without it: workspaceblobstore stays a local "
                   "folder, and the SDK's uploads and jobs.download need it.", err=True)
        return contextlib.nullcontext()
    click.echo(f"Azurite serves workspaceblobstore at {azurite.account_url} (log: "
               f"{azurite.log_path})", err=True)
    return azurite
