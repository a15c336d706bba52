"""Run Azure ML batch endpoints locally, on Dask, with Azure's semantics.

    from emulator import run_batch_job
    job = run_batch_job("deployment.yml", "data/", overrides={"mini_batch_size": 5})
    assert job.status == "Completed", job.error

A job started here is a job of the workspace like any other: ``batch-emulator ml job list``
and ``job show`` see it.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["EmulatorError", "JobRecord", "__version__", "run_batch_job", "start_batch_job"]

if TYPE_CHECKING:
    from emulator.jobs.launch import BatchJob
    from emulator.jobs.record import JobRecord


def start_batch_job(
    deployment: str | os.PathLike,
    input: str | os.PathLike,
    *,
    output_path: str | os.PathLike | None = None,
    job_name: str | None = None,
    mini_batch_size: int | None = None,
    instance_count: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    set_values: Iterable[str] = (),
    home: str | os.PathLike | None = None,
    workspace: str | None = None,
    scheduler_address: str | None = None,
    skip_script_validation: bool = False,
) -> BatchJob:
    """Validate everything, create the job (status ``Queued``) and run it in a background
    thread; the handle has ``record``, ``wait(timeout)`` and ``cancel()``.

    ``overrides`` are the invoke-time overrides of ``az ml batch-endpoint invoke`` as dotted
    keys (``{"retry_settings.timeout": 2, "error_threshold": 0}``); ``set_values`` are
    ``--set path=value`` strings applied to the deployment YAML before it is validated.
    ``scheduler_address`` runs on an existing Dask scheduler instead of a new LocalCluster.
    """
    # Imported here so that `import emulator` (and the CLI's startup) stays cheap.
    from emulator.exceptions import ClusterError
    from emulator.service import BatchService

    if scheduler_address is None:  # the job starts a LocalCluster: its workers are spawned
        problem = _unguarded_call()
        if problem:
            raise ClusterError(problem)
    service = BatchService(home=home, workspace=workspace)
    return service.start_job(
        deployment, input, output_path=output_path, job_name=job_name,
        mini_batch_size=mini_batch_size, instance_count=instance_count, overrides=overrides,
        set_values=set_values, scheduler_address=scheduler_address,
        skip_script_validation=skip_script_validation)


def run_batch_job(deployment, input, *, timeout: float | None = None, **options) -> JobRecord:
    """``start_batch_job`` and wait for the final record (see there for the options); a job
    still running after ``timeout`` seconds is cancelled and ``TimeoutError`` raised."""
    job = start_batch_job(deployment, input, **options)
    try:
        return job.wait(timeout)
    except TimeoutError:
        job.cancel()
        job.wait(60)
        raise


GUARD = 'if __name__ == "__main__":'


def _unguarded_call() -> str | None:
    """Why starting a job here would go wrong, if it would: the call is made by the main
    script's top-level code outside ``if __name__ == "__main__":``.

    Dask's LocalCluster starts its workers with ``spawn``, and a spawned process first re-runs
    the main script (as ``__mp_main__``): unguarded, the script would start a job again in every
    worker, each starting workers of its own. Told in the parent, before anything starts,
    by finding the call's line in the script; in a spawned child, by its ``__mp_main__``.
    """
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if main is None or not script:  # an interactive session, python -c, a notebook
        return None
    frame = sys._getframe(1)
    top = None
    while frame is not None:  # the main script's outermost frame: the line running now
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            top = frame
        frame = frame.f_back
    if top is None:  # called from elsewhere (a test runner, a function of another module)
        return None
    import dask  # here: only a script's top-level call pays for it, and it is loaded anyway

    if dask.config.get("distributed.worker.multiprocessing-method", "spawn") == "fork":
        return None  # a forked worker does not re-run the script
    name = os.path.basename(script)
    advice = (f"{name} starts a batch job at its top level (line {top.f_lineno}); Dask starts "
              f"its workers by re-running that script, so put the call under {GUARD}")
    if main.__name__ == "__mp_main__" or not _under_guard(script, top.f_lineno):
        return advice
    return None


def _under_guard(script: str, line: int) -> bool:
    """Whether ``line`` of ``script`` is inside an ``if __name__ == "__main__":`` block
    (True when the source cannot be read: then nothing is claimed)."""
    try:
        with open(script, encoding="utf-8") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body \
                and node.body[0].lineno <= line <= (node.body[-1].end_lineno or line):
            return True
    return False


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and \
        any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


def __getattr__(name: str):
    # Lazy, so `batch-emulator --version` does not pay for importing the engine.
    if name == "EmulatorError":
        from emulator.exceptions import EmulatorError  # lazy, as above

        return EmulatorError
    if name == "JobRecord":
        from emulator.jobs.record import JobRecord  # lazy, as above

        return JobRecord
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
