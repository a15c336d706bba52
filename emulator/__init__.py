"""Run Azure ML batch endpoints locally, on Dask, with Azure's semantics."""

__version__ = "0.1.0"

from emulator.exceptions import EmulatorError
from emulator.jobs import JobRecord, run_batch_job, start_batch_job

__all__ = ["EmulatorError", "JobRecord", "__version__", "run_batch_job", "start_batch_job"]
