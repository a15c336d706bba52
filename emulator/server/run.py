"""``batch-emulator serve``: bind, record the URL in the home (scoring URIs use it), serve."""

from __future__ import annotations

import contextlib
import json
import os
import socket

import click

from emulator.workspace import Workspace


def serve(host: str, port: int, workspace: str | None = None) -> None:
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
    url = f"http://{shown}:{bound}"
    home = Workspace.open().home
    record = home / "server.json"
    home.mkdir(parents=True, exist_ok=True)
    temporary = record.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    os.replace(temporary, record)
    if workspace:
        os.environ["BATCH_EMULATOR_SERVER_WORKSPACE"] = workspace
    click.echo(f"batch-emulator serving {home} at {url} (Ctrl+C to stop)", err=True)
    config = uvicorn.Config(create_app(home), log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        with contextlib.suppress(OSError):
            sock.close()
