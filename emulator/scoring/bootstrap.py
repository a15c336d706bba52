"""Main program of one scoring process. Standard library only.

Started by the worker side (``emulator.engine.worker``) as ``python bootstrap.py ARGS``.
It imports the user's scoring script, calls ``init()`` once, then serves ``run`` requests
over a private pipe pair until the pipe closes. User output (``print``, logging) goes to
the process's stdout/stderr, which the parent points at the job's log files, so it can
never corrupt the protocol.

Protocol: each message is a 4-byte big-endian length followed by that many bytes of UTF-8
JSON. Requests: ``{"op": "run", "mini_batch": [...]}``. Replies: ``{"op": "ready"}`` once
after ``init()``, ``{"op": "init_failed", "traceback": ...}``, ``{"op": "done", ...}`` or
``{"op": "error", "traceback": ...}`` per run.
"""

from __future__ import annotations

import argparse
import ctypes
import fnmatch
import importlib.util
import json
import logging
import os
import re
import signal
import struct
import sys
import time
import traceback

_HEADER = struct.Struct(">I")
NO_SUCCEEDED_ITEM = (
    "There is no succeeded mini batch item returned from run(). "
    "Please check 'response: run()' in https://aka.ms/batch-inference-documentation."
)


def write_message(fd: int, message: dict) -> None:
    payload = json.dumps(message).encode("utf-8")
    data = _HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or None at end of file."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> dict | None:
    header = read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    payload = read_exactly(fd, _HEADER.unpack(header)[0])
    if payload is None:
        return None
    return json.loads(payload)


def die_with_parent(adopt_orphans: bool = False) -> None:
    """Ask Linux to SIGKILL this process when its parent (a Dask worker, the server) dies.

    With ``adopt_orphans`` this process also becomes a "child subreaper": a process that
    run() starts and that detaches itself (a new session, a double fork) stays below this
    one, so the kill at a timeout finds it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig, pr_set_child_subreaper = 1, 36
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if adopt_orphans:
            libc.prctl(pr_set_child_subreaper, 1)
    except (OSError, AttributeError):
        pass


def user_traceback(exc: BaseException, code_dir: str | None = None,
                   source_dir: str | None = None) -> str:
    """The traceback as the user would see it running their script: our frames removed, and
    files of the registered copy ``code_dir`` named where the user keeps them
    (``source_dir``, the folder the copy was made from)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in (__file__, importlib.util.__file__):
        tb = tb.tb_next
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith("<frozen importlib"):
        tb = tb.tb_next
    return map_paths("".join(traceback.format_exception(type(exc), exc, tb)), code_dir,
                     source_dir)


def map_paths(text: str, code_dir: str | None, source_dir: str | None) -> str:
    """``File "<code_dir>/x.py"`` lines of a traceback as ``File "<source_dir>/x.py"``."""
    if not code_dir or not source_dir:
        return text
    copied = re.escape(os.path.join(os.path.abspath(code_dir), ""))
    original = os.path.join(source_dir, "")
    return re.sub(rf'(File "){copied}', lambda match: match.group(1) + original, text)


def account(result, total: int, collect_rows: bool) -> tuple[int, str]:
    """(succeeded items, results text) for one run() return value, by Azure's rules.

    A DataFrame counts one success per row and is written space-separated without header
    or index; any other iterable (list, tuple, array, generator) one success per element,
    written as ``str(element)`` one per line; ``None`` counts nothing.
    """
    if result is None:
        return 0, ""
    if type(result).__module__.startswith("pandas") and hasattr(result, "to_csv"):
        if not hasattr(result, "columns"):  # a Series: one element per value
            result = result.to_frame()
        text = result.to_csv(sep=" ", header=False, index=False, lineterminator="\n")
        return len(result), text if collect_rows else ""
    if isinstance(result, (str, bytes)) or not hasattr(result, "__iter__"):
        items = [result]
    else:
        items = list(result)
    text = "".join(f"{item}\n" for item in items) if collect_rows else ""
    return len(items), text


FAULTS_VARIABLE = "BATCH_EMULATOR_FAULTS"


class InjectedFault(Exception):
    """Raised instead of calling run() for a file a test chose to fail."""


def inject_faults(mini_batch: list[str]) -> None:
    """Test fault injection (the pytest plugin): raise, hang or crash for chosen files.

    ``$BATCH_EMULATOR_FAULTS`` is a JSON list of ``{"pattern", "mode", "times", "counter"}``:
    a base name matching the glob ``pattern`` triggers ``mode`` (raise | hang | crash) for the
    first ``times`` attempts (all when null), counted in the file ``counter``.
    """
    faults = json.loads(os.environ.get(FAULTS_VARIABLE) or "[]")
    for fault in faults:
        hits = [p for p in mini_batch if fnmatch.fnmatch(os.path.basename(p), fault["pattern"])]
        if not hits or not _fault_still_due(fault):
            continue
        if fault["mode"] == "hang":
            while True:
                time.sleep(3600)
        if fault["mode"] == "crash":
            sys.stdout.flush()
            os._exit(70)
        raise InjectedFault(f"injected fault for {os.path.basename(hits[0])} "
                            f"(pattern {fault['pattern']!r})")


def _fault_still_due(fault: dict) -> bool:
    if fault.get("times") is None:
        return True
    fd = os.open(fault["counter"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)
    return os.path.getsize(fault["counter"]) <= fault["times"]


def _load_script(path: str):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import scoring script {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# A parallel step's task.program_arguments (a JSON list), appended to sys.argv as Azure does.
PROGRAM_ARGUMENTS = "BATCH_EMULATOR_PROGRAM_ARGUMENTS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--script", required=True)
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--source-dir", default=None)  # where the user keeps the code
    parser.add_argument("--shim-dir", required=True)
    parser.add_argument("--request-fd", type=int, required=True)
    parser.add_argument("--reply-fd", type=int, required=True)
    parser.add_argument("--logging-level", default="info")
    parser.add_argument("--collect-rows", action="store_true")
    args = parser.parse_args(argv)

    die_with_parent(adopt_orphans=True)
    # Python put this file's folder first on sys.path; user code must not import from it.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, args.code_dir)
    sys.path.append(args.shim_dir)
    # Scripts written for PRS read extra arguments with parse_known_args (Azure passes some).
    sys.argv = [args.script, "--logging_level", args.logging_level.upper(),
                *json.loads(os.environ.get(PROGRAM_ARGUMENTS) or "[]")]
    logging.basicConfig(
        stream=sys.stdout,
        level=getattr(logging, args.logging_level.upper(), logging.INFO),
        format="%(asctime)s|%(name)s|%(levelname)s|%(process)d|%(funcName)s()|%(message)s",
    )

    try:
        module = _load_script(args.script)
        run = getattr(module, "run", None)
        if not callable(run):
            write_message(args.reply_fd, {
                "op": "script_invalid",
                "message": f"scoring script {os.path.basename(args.script)} has no callable "
                           "run(mini_batch); define it at module level",
            })
            return 3
        init = getattr(module, "init", None)
        if callable(init):
            init()
    except BaseException as exc:
        sys.stdout.flush()
        write_message(args.reply_fd, {"op": "init_failed", "traceback": user_traceback(
            exc, args.code_dir, args.source_dir)})
        return 2
    write_message(args.reply_fd, {"op": "ready"})

    while True:
        request = read_message(args.request_fd)
        if request is None or request.get("op") == "stop":
            return 0
        mini_batch = request["mini_batch"]
        try:
            inject_faults(mini_batch)
            succeeded, text = account(run(list(mini_batch)), len(mini_batch), args.collect_rows)
        except BaseException as exc:
            sys.stdout.flush()
            sys.stderr.flush()
            write_message(args.reply_fd, {
                "op": "error",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": user_traceback(exc, args.code_dir, args.source_dir),
            })
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        write_message(args.reply_fd, {"op": "done", "succeeded": succeeded, "rows": text})


if __name__ == "__main__":
    sys.exit(main())
