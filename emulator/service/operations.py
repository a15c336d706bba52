"""``BatchService``: every group of operations over one workspace of one home."""

from emulator.service.activity import ActivityOperations
from emulator.service.assets import AssetOperations
from emulator.service.base import ServiceBase
from emulator.service.components import ComponentOperations
from emulator.service.computes import ComputeOperations
from emulator.service.deployments import DeploymentOperations
from emulator.service.endpoints import EndpointOperations
from emulator.service.invoke import InvokeOperations
from emulator.service.jobs import JobOperations
from emulator.service.pipelines import PipelineOperations
from emulator.service.uploads import UploadOperations


class BatchService(EndpointOperations, DeploymentOperations, InvokeOperations, JobOperations,
                   PipelineOperations, ComponentOperations, ComputeOperations, AssetOperations,
                   UploadOperations, ActivityOperations, ServiceBase):
    """The batch endpoint API over one workspace of one home."""
