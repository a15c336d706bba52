"""Datastores on object storage: S3 through moto's server mode, Azure Blob through Azurite,
both on loopback ports (in-process mocks would not reach Dask's worker processes)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("s3fs", reason="S3 datastores need s3fs")
moto_server = pytest.importorskip("moto.server", reason="S3 tests need moto[server]")

from emulator.exceptions import OutputExistsError  # noqa: E402
from emulator.workspace import azurite  # noqa: E402
from emulator.workspace.azurite import Azurite  # noqa: E402
from emulator.workspace.datastores import RemoteStore, publish  # noqa: E402
from tests.helpers import require_azurite, run_cli  # noqa: E402

SEED = Path(__file__).resolve().parents[2] / "examples"
SCORING = Path(__file__).resolve().parents[2] / "fixtures" / "scoring"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, request):
    import boto3

    name = "bucket-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[-40:].strip("-")
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test",
                 aws_secret_access_key="test", region_name="us-east-1").create_bucket(Bucket=name)
    return RemoteStore("s3", name, {"key": "test", "secret": "test", "client_kwargs": {
        "endpoint_url": s3_endpoint, "region_name": "us-east-1"}})


def filesystem(store: RemoteStore):
    import fsspec

    return fsspec.filesystem(store.protocol, **store.options)


def upload_inputs(store: RemoteStore, count: int = 6) -> None:
    fs = filesystem(store)
    for i in range(count):
        fs.pipe_file(store.key(f"inputs/batch/f{i:02d}.txt"), b"x" * (i + 1))
    fs.pipe_file(store.key("inputs/.hidden"), b"skip me")


@pytest.fixture
def store_endpoint(tmp_path, monkeypatch):
    """``setup(datastore_arguments, scheduler_address)``: a workspace with that datastore, a
    dask compute and an endpoint ``s3-ep`` scoring with succeed_list.py."""
    monkeypatch.setenv("BATCH_EMULATOR_HOME", str(tmp_path / "home"))

    def setup(datastore: list[str], scheduler_address: str) -> None:
        for args in (
            ["ml", "datastore", "create", *datastore],
            ["ml", "compute", "create", "-n", "cluster", "--type", "dask", "--set",
             f"scheduler_address={scheduler_address}"],
            ["ml", "batch-endpoint", "create", "-n", "s3-ep"],
        ):
            code, _, err = run_cli(*args)
            assert code == 0, err
        deployment = tmp_path / "d.yml"
        deployment.write_text(json.dumps({
            "name": "s3-dpl", "endpoint_name": "s3-ep", "type": "model",
            "model": {"path": str(SEED / "mnist" / "model")},
            "code_configuration": {"code": str(SCORING), "scoring_script": "succeed_list.py"},
            "compute": "azureml:cluster", "settings": {"mini_batch_size": 2}}))
        code, _, err = run_cli("ml", "batch-deployment", "create", "-f", str(deployment),
                               "--set-default")
        assert code == 0, err

    return setup


@pytest.fixture
def az_s3(store_endpoint, bucket, s3_endpoint):
    """``setup(scheduler_address)``: datastore ``s3data`` on the bucket."""
    return lambda address: store_endpoint([
        "--name", "s3data", "--set", "type=s3", f"bucket={bucket.root}",
        f"endpoint_url={s3_endpoint}", "credentials.access_key_id=test",
        "credentials.secret_access_key=test"], address)


def invoke_and_wait(*args: str) -> dict:
    code, out, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "s3-ep", *args,
                             "--query", "name", "-o", "tsv")
    assert code == 0, err
    code, _, err = run_cli("ml", "job", "stream", "-n", out.strip())
    assert code == 0, err
    return json.loads(run_cli("ml", "job", "show", "-n", out.strip())[1])


def test_inputs_read_from_and_results_written_to_a_bucket(az_s3, bucket,
                                                          dask_scheduler_address):
    az_s3(dask_scheduler_address)
    upload_inputs(bucket)
    job = invoke_and_wait("--input", "azureml://datastores/s3data/paths/inputs/",
                          "--output-path", "azureml://datastores/s3data/paths/out/")
    assert job["status"] == "Completed"
    assert job["properties"]["files_total"] == "6"  # the hidden object skipped
    assert job["properties"]["output_file"] == f"s3://{bucket.root}/out/predictions.csv"
    rows = filesystem(bucket).cat_file(bucket.key("out/predictions.csv")).decode().splitlines()
    assert sorted(rows) == [f"f{i:02d}.txt: {i + 1}" for i in range(6)]

    code, _, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "s3-ep", "--input",
                           "azureml://datastores/s3data/paths/inputs/", "--output-path",
                           "azureml://datastores/s3data/paths/out/")
    assert code != 0 and f"s3://{bucket.root}/out/predictions.csv already exists" in err


def test_the_conditional_write_refuses_an_existing_object(bucket, tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("first\n")
    second.write_text("second\n")
    publish(bucket, first, bucket.key("out/predictions.csv"))
    with pytest.raises(OutputExistsError, match="left untouched"):
        publish(bucket, second, bucket.key("out/predictions.csv"))
    assert filesystem(bucket).cat_file(bucket.key("out/predictions.csv")) == b"first\n"


@pytest.mark.slow
def test_workers_of_a_remote_scheduler_read_only_from_the_bucket(az_s3, bucket, dask_processes):
    address, _ = dask_processes
    az_s3(address)
    upload_inputs(bucket, 4)
    job = invoke_and_wait("--input", "azureml://datastores/s3data/paths/inputs/batch",
                          "--instance-count", "2")
    assert job["status"] == "Completed"
    rows = Path(job["properties"]["output_file"]).read_text().splitlines()
    assert sorted(rows) == [f"f{i:02d}.txt: {i + 1}" for i in range(4)]  # sizes: real content


@pytest.fixture
def blob_container(tmp_path):
    """A container ``scoring`` in an Azurite of its own (plain HTTP, as users often run it)."""
    require_azurite()
    from azure.storage.blob import ContainerClient

    with Azurite(tmp_path / "azurite") as server:
        container = ContainerClient(server.account_url, "scoring", credential={
            "account_name": azurite.ACCOUNT, "account_key": azurite.ACCOUNT_KEY})
        container.create_container()
        yield server, container


def test_an_azure_blob_datastore_reads_inputs_and_publishes_once(store_endpoint, blob_container,
                                                                   dask_scheduler_address):
    server, container = blob_container
    store_endpoint(["--name", "blobdata", "--set", "type=azure_blob",
                    f"account_name={azurite.ACCOUNT}", "container_name=scoring",
                    f"account_url={server.account_url}",
                    f"credentials.account_key={azurite.ACCOUNT_KEY}"], dask_scheduler_address)
    for i in range(6):
        container.upload_blob(f"inputs/batch/f{i:02d}.txt", b"x" * (i + 1))
    container.upload_blob("inputs/.hidden", b"skip me")
    arguments = ("--input", "azureml://datastores/blobdata/paths/inputs/",
                 "--output-path", "azureml://datastores/blobdata/paths/out/")
    job = invoke_and_wait(*arguments)
    assert job["status"] == "Completed"
    assert job["properties"]["files_total"] == "6"
    assert job["properties"]["output_file"] == f"{server.account_url}/scoring/out/predictions.csv"
    rows = container.download_blob("out/predictions.csv").readall().decode().splitlines()
    assert sorted(rows) == [f"f{i:02d}.txt: {i + 1}" for i in range(6)]

    code, _, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "s3-ep", *arguments)
    assert code != 0 and "scoring/out/predictions.csv already exists" in err


def test_object_names_never_climb_out_of_the_folder_they_are_copied_to(blob_container,
                                                                        tmp_path):
    from emulator.exceptions import InputError
    from emulator.workspace.datastores import download_tree, list_files

    server, container = blob_container
    store = RemoteStore("azureblob", "scoring", {
        "account_url": server.account_url,
        "credential": {"account_name": azurite.ACCOUNT, "account_key": azurite.ACCOUNT_KEY}})
    outside = tmp_path / "outside.txt"
    container.upload_blob(f"escape/{outside}", b"written outside")  # escape//tmp/...
    container.upload_blob("escape/fine.txt", b"fine")
    with pytest.raises(InputError, match="empty segments cannot be copied to a folder"):
        download_tree(store, "escape", tmp_path / "copy")
    with pytest.raises(InputError, match="empty segments"):
        list_files(store, "escape")
    assert not outside.exists()


@pytest.mark.parametrize(("first", "second", "both"), [
    ("summary_only", "summary_only", False), ("append_row", "append_row", False),
    ("summary_only", "append_row", False), ("append_row", "other.csv", True)])
def test_one_job_owns_an_output_on_object_storage(first, second, both, bucket):
    """The claims of ``jobs.claims`` on a bucket: conditional writes, as on a local folder."""
    from emulator.jobs.claims import claim_output, release_output
    from emulator.jobs.plan import Location
    from emulator.model.specs import BatchDeploymentSettings

    def settings(kind: str) -> BatchDeploymentSettings:
        action = "summary_only" if kind == "summary_only" else "append_row"
        name = kind if kind.endswith(".csv") else "predictions.csv"
        return BatchDeploymentSettings.from_mapping({"output_action": action,
                                                     "output_file_name": name})

    output = Location("azureml://datastores/s3data/paths/shared/", store=bucket.to_dict(),
                      prefix="shared")
    claim_output(output, settings(first), "job-one")
    if both:
        claim_output(output, settings(second), "job-two")
        release_output(output, settings(second), "job-two")
    else:
        with pytest.raises(OutputExistsError, match="being written by job job-one"):
            claim_output(output, settings(second), "job-two")
    release_output(output, settings(first), "job-one")
    assert filesystem(bucket).find(bucket.key("shared")) == []  # every claim gone
    claim_output(output, settings(second), "job-three")  # free again
