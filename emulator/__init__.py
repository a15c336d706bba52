"""Run Azure ML batch endpoints locally, on Dask, with Azure's semantics.

    from emulator import run_batch_job
    job = run_batch_job("deployment.yml", "data/", overrides={"mini_batch_size": 5})
    assert job.status == "Completed", job.error

A job started here is a job of the workspace like any other: ``batch-emulator ml job list``
and ``job show`` see it.
"""

from __future__ import annotations

import os
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
    from emulator.service import BatchService

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


def __getattr__(name: str):
    # Lazy, so `batch-emulator --version` does not pay for importing the engine.
    if name == "EmulatorError":
        from emulator.exceptions import EmulatorError  # lazy, as above

        return EmulatorError
    if name == "JobRecord":
        from emulator.jobs.record import JobRecord  # lazy, as above

        return JobRecord
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
