"""Run Azure ML batch endpoints locally, on Dask, with Azure's semantics."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["EmulatorError", "JobRecord", "__version__", "run_batch_job", "start_batch_job"]


def __getattr__(name: str):
    # Lazy, so `batch-emulator --version` or a job runner waiting for its turn do not pay for
    # importing Dask and pandas.
    if name == "EmulatorError":
        from emulator.exceptions import EmulatorError

        return EmulatorError
    if name in ("JobRecord", "run_batch_job", "start_batch_job"):
        from emulator import jobs

        return getattr(jobs, name)
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
