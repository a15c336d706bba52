"""Helpers importable by tests (the root conftest's functions, re-exported)."""

from conftest import MODEL, SCORING, pid_alive, trace_lines, wait_for

__all__ = ["MODEL", "SCORING", "pid_alive", "trace_lines", "wait_for"]


def run_cli(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    """Run ``batch-emulator ARGS`` in this process: (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from emulator.cli.main import main

    with CliRunner().isolation(env=env) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue().decode(), err.getvalue().decode()
