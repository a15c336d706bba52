"""A job on an existing Dask scheduler that dies under it: the job fails with one line naming
the scheduler, instead of waiting for leases that nobody will finish, and its runner ends."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from emulator.service import BatchService
from tests.helpers import MODEL, SCORING, free_port, process_gone, wait_for, wait_for_workers

pytestmark = pytest.mark.slow


def test_a_job_whose_scheduler_dies_fails_and_says_so(tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], stdout=log, stderr=log)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--nthreads", "1", "--memory-limit", "0", "--no-nanny",
                               "--dashboard-address", ":0"], stdout=log, stderr=log)
    try:
        wait_for_workers(address, 1, "the worker to join the scheduler")
        service = BatchService(home=tmp_path / "home")
        service.create_compute(set_values=["name=doomed", "type=dask",
                                           f"scheduler_address={address}"])
        service.create_endpoint(name="doomed-ep")
        deployment = tmp_path / "d.yml"
        deployment.write_text(yaml.safe_dump({
            "name": "slow", "endpoint_name": "doomed-ep", "type": "model",
            "model": {"path": str(MODEL)}, "compute": "azureml:doomed",
            "code_configuration": {"code": str(SCORING), "scoring_script": "slow_list.py"},
            "settings": {"mini_batch_size": 1,
                         "environment_variables": {"SLOW_SECONDS": "1"}}}))
        service.create_deployment(deployment, set_default=True)
        inputs = tmp_path / "inputs"
        inputs.mkdir()
        for number in range(30):
            (inputs / f"f{number:02d}.txt").write_text("x")
        name = service.invoke("doomed-ep", input=str(inputs))["name"]
        wait_for(lambda: service.job_record(name).mini_batches_completed >= 1, 120,
                 "the first mini-batch")
        scheduler.kill()
        scheduler.wait(timeout=30)
        record = service.wait_job(name, timeout=180)
        assert record.status == "Failed"
        assert record.error.startswith(f"lost the Dask scheduler at {address} while the job "
                                       "ran"), record.error
        assert "\n" not in record.error
        pid = service.store.get_job(name)[1]
        wait_for(lambda: pid is None or process_gone(pid), 60, "the job's runner to end")
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait(timeout=30)
        log.close()
