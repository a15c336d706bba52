"""The operations of the batch endpoint API, one method per ``az ml`` verb.

Every front end (the CLI, the REST server in both modes, the Python API, the pytest plugin)
calls these and only renders the result; no rule lives in a front end, and the front ends
import nothing below this package. Methods validate everything before they write anything,
so a refused request leaves the store as it was. The operations are grouped by resource in
the modules of this package; ``BatchService`` is all of them over one workspace, and
``emulator.service.home`` holds what belongs to the home rather than to one workspace.
"""

from emulator.engine.tasks import RUN_DONE, RUN_TIMEOUT
from emulator.jobs.launch import BatchJob
from emulator.jobs.record import FailedMiniBatch, JobRecord, JobStatus
from emulator.scoring.bootstrap import FAULTS_VARIABLE
from emulator.service.assets import AssetOperations
from emulator.service.base import ServiceBase
from emulator.service.deployments import DeploymentOperations
from emulator.service.endpoints import EndpointOperations
from emulator.service.invoke import LITERAL_INPUT, NO_ROUTE, InvokeOperations
from emulator.service.jobs import JobOperations
from emulator.service.scoring import MiniBatchOutcome, score_mini_batch
from emulator.service.uploads import UploadOperations


class BatchService(EndpointOperations, DeploymentOperations, InvokeOperations, JobOperations,
                   AssetOperations, UploadOperations, ServiceBase):
    """The batch endpoint API over one workspace of one home."""


__all__ = ["FAULTS_VARIABLE", "LITERAL_INPUT", "NO_ROUTE", "RUN_DONE", "RUN_TIMEOUT", "BatchJob",
           "BatchService", "FailedMiniBatch", "JobRecord", "JobStatus", "MiniBatchOutcome",
           "score_mini_batch"]
