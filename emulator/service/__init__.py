"""The operations of the batch endpoint API, one method per ``az ml`` verb.

Every front end (CLI, REST server, pytest plugin) calls these and only renders the result;
no rule lives in a front end. Methods validate everything before they write anything, so a
refused request leaves the store as it was. The operations are grouped by resource in the
modules of this package; ``BatchService`` is all of them over one workspace.
"""

from emulator.service.assets import AssetOperations
from emulator.service.base import ServiceBase
from emulator.service.deployments import DeploymentOperations
from emulator.service.endpoints import EndpointOperations
from emulator.service.invoke import LITERAL_INPUT, NO_ROUTE, InvokeOperations
from emulator.service.jobs import JobOperations
from emulator.service.uploads import UploadOperations


class BatchService(EndpointOperations, DeploymentOperations, InvokeOperations, JobOperations,
                   AssetOperations, UploadOperations, ServiceBase):
    """The batch endpoint API over one workspace of one home."""


__all__ = ["LITERAL_INPUT", "NO_ROUTE", "BatchService"]
