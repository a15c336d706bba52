"""The operations of the batch endpoint API, one method per ``az ml`` verb.

Every front end (the CLI, the REST server in both modes, the Python API, the pytest plugin)
calls these and only renders the result; no rule lives in a front end, and the front ends
import nothing below this package. Methods validate everything before they write anything,
so a refused request leaves the store as it was. The operations are grouped by resource in
the modules of this package; ``BatchService`` is all of them over one workspace, and
``emulator.service.home`` holds what belongs to the home rather than to one workspace.
"""

from __future__ import annotations

import importlib

# Where each name of the package face lives. Resolved on first use, so that a front end that
# needs only the home's operations (tokens, the server record) does not import the engine.
_FACE = {
    "BatchService": "emulator.service.operations",
    "LITERAL_INPUT": "emulator.service.invoke",
    "NO_ROUTE": "emulator.service.invoke",
    "SCORING_STEP": "emulator.service.documents",
    "MiniBatchOutcome": "emulator.service.scoring",
    "score_mini_batch": "emulator.service.scoring",
    "BatchJob": "emulator.jobs.launch",
    "FailedMiniBatch": "emulator.jobs.record",
    "JobRecord": "emulator.jobs.record",
    "JobStatus": "emulator.jobs.record",
    "RUN_DONE": "emulator.engine.tasks",
    "RUN_TIMEOUT": "emulator.engine.tasks",
    "FAULTS_VARIABLE": "emulator.scoring.bootstrap",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name not in _FACE:
        raise AttributeError(f"module 'emulator.service' has no attribute {name!r}")
    return getattr(importlib.import_module(_FACE[name]), name)
