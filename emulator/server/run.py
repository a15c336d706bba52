"""``batch-emulator serve``: bind, record the URL in the home (scoring URIs use it), serve."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys

import click

from emulator.exceptions import ServerError
from emulator.service import home as home_operations


def serve(host: str, port: int, workspace: str | None = None,
          azure_compatible: bool = False, with_azurite: bool = False,
          allow_remote: bool = False) -> None:
    loopback = _check_exposure(host, allow_remote, azure_compatible)
    # Imported here: the server's dependencies are the optional 'server' extra.
    import uvicorn

    from emulator.server.app import create_app

    home = home_operations.resolve_home()
    workspace = home_operations.open_workspace(home, workspace)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    ssl: dict = {}
    if azure_compatible:
        ca, cert, key = home_operations.certificates(home)
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    url = f"{'https' if azure_compatible else 'http'}://{shown}:{bound}"
    stack = contextlib.ExitStack()
    stack.enter_context(home_operations.serving(home, url))
    click.echo(f"batch-emulator serving workspace {workspace!r} of {home} at {url} (Ctrl+C to "
               "stop)", err=True)
    app = create_app(home, azure_compatible=azure_compatible, workspace=workspace,
                     open_pages=loopback)
    config = uvicorn.Config(app, log_level="warning", access_log=False, **ssl)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler found before
    # it started: this one, so Azurite is stopped on the way out instead of orphaned.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with stack:
            if with_azurite:
                stack.enter_context(home_operations.blob_store(
                    home, cert, key, ca, say=lambda line: click.echo(line, err=True)))
            if azure_compatible:  # printed once its blob store is up: the SDK may start now
                click.echo(f"export REQUESTS_CA_BUNDLE={ca}\n"
                           f"export ARM_CLOUD_METADATA_URL={url}/metadata/endpoints"
                           f"?api-version=2019-05-01\nexport BATCH_EMULATOR_HOME={home}")
                sys.stdout.flush()
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _check_exposure(host: str, allow_remote: bool, azure_compatible: bool) -> bool:
    """Beyond loopback the API runs anyone's code who has a token: only when asked for.
    True when the host is loopback (its Studio pages need no token)."""
    if home_operations.is_loopback(host):
        return True
    if not allow_remote:
        raise ServerError(f"--host {host} listens beyond this machine, where anyone who reaches "
                          "the port with a token of this home can run code; add --allow-remote "
                          "to mean it, or keep the default 127.0.0.1")
    click.echo(f"WARNING: serving beyond loopback on {host}: keep this home's tokens secret"
               + ("" if azure_compatible else "; they travel unencrypted over plain HTTP "
                  "(--azure-compatible serves HTTPS)"), err=True)
    return False


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another "
                          "--port") from None
    sock.listen(2048)
    return sock


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)
