"""The scheduler and a worker as separate hosts: network namespaces joined by veth pairs to the
host, which routes between them. The job runner (on the host) reaches the scheduler only by its
namespace address; the worker reads inputs only from an S3 bucket served on the host."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.service import BatchService
from tests.helpers import run_cli, wait_for_workers

SEED = Path(__file__).resolve().parents[2] / "examples"
SCORING = Path(__file__).resolve().parents[2] / "fixtures" / "scoring"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _netns_available() -> str | None:
    if shutil.which("ip") is None:
        return "iproute2's ip command is not installed"
    probe = f"bee-probe-{uuid.uuid4().hex[:6]}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"ip netns is not available here: {result.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@pytest.fixture
def hosts():
    """Two namespaces, 'sched' (10.77.1.2) and 'worker' (10.77.2.2), routed via the host."""
    reason = _netns_available()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:4]
    spaces = {"sched": (f"bee-s-{tag}", "10.77.1"), "worker": (f"bee-w-{tag}", "10.77.2")}
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    previous = forward.read_text().strip()
    try:
        forward.write_text("1")
        for name, (space, net) in spaces.items():
            outer, inner = f"v{name[0]}{tag}o", f"v{name[0]}{tag}i"
            _ip("netns", "add", space)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", space)
            _ip("addr", "add", f"{net}.1/24", "dev", outer)
            _ip("link", "set", outer, "up")
            _ip("-n", space, "addr", "add", f"{net}.2/24", "dev", inner)
            _ip("-n", space, "link", "set", inner, "up")
            _ip("-n", space, "link", "set", "lo", "up")
            _ip("-n", space, "route", "add", "default", "via", f"{net}.1")
        yield {name: (space, f"{net}.2", f"{net}.1") for name, (space, net) in spaces.items()}
    finally:
        for space, _ in spaces.values():
            _ip("netns", "del", space, check=False)
        with contextlib.suppress(OSError):
            forward.write_text(previous)


@dataclass
class Separated:
    """A scheduler and a worker in their namespaces, an S3 server on the host, and a home
    with the compute ``remote`` and the datastore ``bucket`` (at ``s3_url``)."""

    address: str
    s3_url: str
    s3: object  # a boto3 client of the bucket's server


@pytest.fixture
def separated(hosts, tmp_path, monkeypatch) -> Iterator[Separated]:
    moto_server = pytest.importorskip("moto.server")
    import boto3

    sched_space, sched_ip, _ = hosts["sched"]
    worker_space, worker_ip, host_ip = hosts["worker"]
    s3 = moto_server.ThreadedMotoServer(ip_address="0.0.0.0", port=0, verbose=False)
    s3.start()
    processes = []
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    try:
        s3_url = f"http://{host_ip}:{s3.get_host_and_port()[1]}"  # the worker's way to the host
        client = boto3.client("s3", endpoint_url=s3_url, aws_access_key_id="t",
                              aws_secret_access_key="t", region_name="us-east-1")
        client.create_bucket(Bucket="inputs")
        for i in range(4):
            client.put_object(Bucket="inputs", Key=f"data/f{i}.txt", Body=b"y" * (i + 1))
        processes.append(subprocess.Popen(
            ["ip", "netns", "exec", sched_space, sys.executable, "-m",
             "distributed.cli.dask_scheduler", "--host", sched_ip, "--port", "8786",
             "--dashboard-address", ":0"], stdout=log, stderr=log))
        address = f"tcp://{sched_ip}:8786"
        processes.append(subprocess.Popen(
            ["ip", "netns", "exec", worker_space, sys.executable, "-m",
             "distributed.cli.dask_worker", address, "--host", worker_ip, "--no-nanny",
             "--nthreads", "1", "--memory-limit", "0", "--dashboard-address", ":0"],
            stdout=log, stderr=log, env={**os.environ, "NO_PROXY": "*"}))
        [worker] = wait_for_workers(address, 1,
                                    "the worker in its namespace to join the scheduler")
        assert worker.startswith(f"tcp://{worker_ip}:")

        monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))
        for args in (
            ["ml", "datastore", "create", "--name", "bucket", "--set", "type=s3",
             "bucket=inputs", f"endpoint_url={s3_url}", "credentials.access_key_id=t",
             "credentials.secret_access_key=t"],
            ["ml", "compute", "create", "-n", "remote", "--type", "dask", "--set",
             f"scheduler_address={address}"],
            ["ml", "batch-endpoint", "create", "-n", "netns-ep"],
        ):
            code, _, err = run_cli(*args)
            assert code == 0, err
        yield Separated(address, s3_url, client)
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)
        log.close()
        s3.stop()


def deploy(tmp_path: Path, **settings) -> None:
    deployment = tmp_path / "d.yml"
    deployment.write_text(json.dumps({
        "name": "netns-dpl", "endpoint_name": "netns-ep", "type": "model",
        "model": {"path": str(SEED / "mnist" / "model")},
        "code_configuration": {"code": str(SCORING), "scoring_script": "succeed_list.py"},
        "compute": "azureml:remote", "settings": settings}))
    code, _, err = run_cli("ml", "batch-deployment", "create", "-f", str(deployment),
                           "--set-default")
    assert code == 0, err


def invoke(*options: str) -> dict:
    code, out, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "netns-ep", *options,
                             "--query", "name", "-o", "tsv")
    assert code == 0, err
    run_cli("ml", "job", "stream", "-n", out.strip())
    return json.loads(run_cli("ml", "job", "show", "-n", out.strip())[1])


@pytest.mark.slow
def test_scheduler_and_worker_on_separate_hosts_score_from_a_bucket(separated, tmp_path):
    deploy(tmp_path)
    shown = invoke("--input", "azureml://datastores/bucket/paths/data")
    assert shown["status"] == "Completed", shown.get("error")
    rows = Path(shown["properties"]["output_file"]).read_text().splitlines()
    assert sorted(rows) == [f"f{i}.txt: {i + 1}" for i in range(4)]


@pytest.mark.slow
@pytest.mark.parametrize("threshold,status", [(-1, "Completed"), (0, "Failed")])
def test_a_datastore_the_worker_cannot_reach_fails_its_mini_batches_by_name(
        separated, tmp_path, threshold, status):
    """The job lists the bucket from the host at 127.0.0.1; the worker's own loopback has no
    S3 server, so each download fails with one line naming the object and the endpoint, and
    error_threshold decides, as for any failure."""
    port = separated.s3_url.rsplit(":", 1)[1]
    unreachable = f"http://127.0.0.1:{port}"
    code, _, err = run_cli(
        "ml", "datastore", "create", "--name", "hostonly", "--set", "type=s3",
        "bucket=inputs", f"endpoint_url={unreachable}", "credentials.access_key_id=t",
        "credentials.secret_access_key=t")
    assert code == 0, err
    deploy(tmp_path, mini_batch_size=2, error_threshold=threshold,
           retry_settings={"max_retries": 0, "timeout": 30})
    shown = invoke("--input", "azureml://datastores/hostonly/paths/data")
    assert shown["status"] == status, shown.get("error")
    record = BatchService().job_record(shown["name"])
    assert record.mini_batches_failed >= 1
    for failure in record.failed_mini_batches:
        assert "\n" not in failure.error, failure.error
        assert re.fullmatch(rf"the input could not be downloaded: could not fetch "
                            rf"s3://inputs/data/f\d\.txt from {re.escape(unreachable)}: .+",
                            failure.error), failure.error
