"""Scoring in the calling process, for ``--batch-emulator-cluster=inprocess`` (debuggers,
coverage, breakpoints in ``run()``).

It keeps Azure's accounting, retries, error_threshold, outputs and logs, and says plainly what
it cannot do: a ``run()`` past its timeout is recorded as ``RUN_TIMEOUT`` but its thread cannot
be killed and is abandoned; a crash (``os._exit``, a signal) in user code ends the whole
process; environment variables are set process-wide.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from emulator.engine.scorers import InitFailed, ScriptInvalid, prepare_scorer
from emulator.engine.tasks import RUN_DONE, RUN_EXCEPTION, RUN_TIMEOUT, Attempt, ScoringContext
from emulator.scoring import bootstrap

LIMITS = (
    "in-process scoring: a run() past its timeout is recorded as RUN_TIMEOUT but cannot be "
    "killed (its thread is abandoned)",
    "in-process scoring: a crash (os._exit, a signal) in the scoring script ends the test process",
    "in-process scoring: environment variables are set for the whole process",
)
_IMPORT_LOCK = threading.Lock()


class InProcessScorer:
    """The in-process stand-in for ``scorers.ScoringProcess`` (same methods)."""

    def __init__(self, ctx: ScoringContext, instance: str, number: int):
        self.ctx = ctx
        self.name = f"process{number:03d}"
        _, self.error_log, variables = prepare_scorer(ctx, instance, self.name)
        os.environ.update(variables)
        self._run = None

    def wait_ready(self) -> None:
        with _IMPORT_LOCK:
            shim = str(Path(bootstrap.__file__).parent / "shim")
            if shim not in sys.path:
                sys.path.append(shim)
            if self.ctx.code_dir not in sys.path:
                sys.path.insert(0, self.ctx.code_dir)
            try:
                module = bootstrap._load_script(self.ctx.scoring_script)
            except BaseException as exc:  # user code may raise anything, SystemExit included
                raise InitFailed(self._traceback(exc)) from None
        run = getattr(module, "run", None)
        if not callable(run):
            raise ScriptInvalid(f"scoring script {Path(self.ctx.scoring_script).name} has "
                                       "no callable run(mini_batch); define it at module level")
        init = getattr(module, "init", None)
        try:
            if callable(init):
                init()
        except BaseException as exc:
            raise InitFailed(self._traceback(exc)) from None
        self._run = run

    def _traceback(self, exc: BaseException) -> str:
        return bootstrap.user_traceback(exc, self.ctx.code_dir, self.ctx.source_dir)

    def run(self, files: tuple[str, ...]) -> tuple[Attempt, str]:
        outcome: dict = {}

        def call() -> None:
            try:
                bootstrap.inject_faults(list(files))
                outcome["done"] = bootstrap.account(self._run(list(files)), len(files),
                                                    self.ctx.collect_rows)
            except BaseException as exc:
                outcome["error"] = exc

        start = time.time()
        thread = threading.Thread(target=call, name=f"run-{self.name}", daemon=True)
        thread.start()
        thread.join(self.ctx.timeout)
        elapsed = time.time() - start
        if thread.is_alive():
            return Attempt(RUN_TIMEOUT, self.name, start, elapsed,
                           error=f"run() did not finish within retry_settings.timeout="
                                 f"{self.ctx.timeout} s; in-process scoring cannot kill it, its "
                                 "thread was abandoned"), ""
        if "error" in outcome:
            exc = outcome["error"]
            return Attempt(RUN_EXCEPTION, self.name, start, elapsed,
                           error=f"{type(exc).__name__}: {exc}",
                           traceback=self._traceback(exc)), ""
        succeeded, rows = outcome["done"]
        return Attempt(RUN_DONE, self.name, start, elapsed, succeeded=succeeded), rows

    def kill(self) -> None:
        self._run = None  # a thread cannot be killed; the next attempt gets a fresh scorer

    stop = kill
