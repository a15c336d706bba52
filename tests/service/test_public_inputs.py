"""Inputs on http(s) URLs (issue 14): a folder of a public Azure Blob container, listed and read
anonymously (Azurite with a public container, path-style URLs as Azurite and the SDK write
them), one file behind any URL streamed to the worker (a local http.server), data assets with
such paths, and an unreachable URL refused in one line at invoke time, with no job left.

Every case runs through the Python API (``start_batch_job``), the CLI (``ml batch-endpoint
invoke``) and REST (``POST <scoring_uri>``: a GA ``InputData`` with a type, the preview's
``DataUrl`` without one), the ``front`` fixture.
"""

from __future__ import annotations

import csv
import functools
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.exceptions import (
    EmulatorError,
    InputError,
    MissingObjectError,
    StorageUnavailableError,
)
from tests.helpers import free_port, require_azurite, run_cli, wait_for

JOB_TIMEOUT = 120
TERMINAL = ("Completed", "Failed", "Canceled")
MNIST = {"mnist/0.png": b"0" * 3, "mnist/1.png": b"1" * 5, "mnist/more/2.png": b"2" * 7,
         "mnist/.hidden": b"skipped"}
TAXI = b"tip,fare\n1.0,10.0\n2.5,12.5\n"


# ----------------------------------------------------------------------------- servers


@dataclass
class WebServer:
    url: str
    folder: Path
    requests: list[str]  # the request paths (with their query) the server saw
    budgets: dict[str, int]  # path: how many more GETs it answers before a 404


@pytest.fixture(scope="module")
def web_server(tmp_path_factory) -> Iterator[WebServer]:
    """A plain web server on 127.0.0.1 (http.server in a thread): it serves files, lists
    nothing that a job could read as a folder."""
    folder = tmp_path_factory.mktemp("web")
    (folder / "nytaxi").mkdir()
    (folder / "nytaxi" / "taxi-tip-data.csv").write_bytes(TAXI)
    (folder / "taxi-tip-data.csv").write_bytes(TAXI)
    seen: list[str] = []
    budgets: dict[str, int] = {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            path = self.path.split("?", 1)[0]
            if path in budgets:
                budgets[path] -= 1
                if budgets[path] < 0:
                    self.send_error(404)
                    return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield WebServer(f"http://127.0.0.1:{server.server_address[1]}", folder, seen, budgets)
    server.shutdown()
    server.server_close()
    thread.join(10)


@dataclass
class PublicBlob:
    account_url: str  # http://127.0.0.1:<port>/devstoreaccount1 (path-style)

    def url(self, container: str, path: str) -> str:
        return f"{self.account_url}/{container}/{path}"


@pytest.fixture(scope="module")
def public_blob(tmp_path_factory) -> Iterator[PublicBlob]:
    """Azurite (plain HTTP) with a public container ``sampledata`` (anonymous listing and
    reads) and a private one ``private``."""
    require_azurite()
    pytest.importorskip("azure.storage.blob", reason="Azure Blob inputs need the storage extra")
    from azure.storage.blob import BlobServiceClient

    from emulator.workspace import azurite

    with azurite.Azurite(tmp_path_factory.mktemp("azurite")) as server:
        service = BlobServiceClient(server.account_url, credential={
            "account_name": azurite.ACCOUNT, "account_key": azurite.ACCOUNT_KEY})
        public = service.create_container("sampledata", public_access="container")
        for name, data in MNIST.items():
            public.upload_blob(name, data)
        public.upload_blob("nytaxi/taxi-tip-data.csv", TAXI)
        service.create_container("private").upload_blob("mnist/0.png", b"000")
        yield PublicBlob(server.account_url)


def closed_url(path: str) -> str:
    """A URL on a loopback port nobody listens on: what an offline machine gets."""
    return f"http://127.0.0.1:{free_port()}/{path}"


# ----------------------------------------------------------------------------- the three fronts


class Refused(Exception):
    """A front refused the job up front, as that front says it."""

    def __init__(self, message: str, code: str | None = None, exit_code: int | None = None,
                 http_status: int | None = None):
        super().__init__(message)
        self.message, self.code, self.exit_code, self.http_status = (
            message, code, exit_code, http_status)

    def is_a(self, error: type[EmulatorError]) -> bool:
        """Whatever this front tells of the error matches ``error``'s class."""
        return ((self.code is None or self.code == error.code)
                and (self.exit_code is None or self.exit_code == error.exit_code)
                and (self.http_status is None or self.http_status == error.http_status))


@dataclass(frozen=True)
class Finished:
    status: str
    total: int
    failed: int
    rows: list[str]  # the results file's lines, sorted
    error: str | None
    report: dict[str, dict[str, str]]  # processed_mini-batches.csv by mini-batch id


class Front:
    """Starts a job on a URL; the job is then followed with ``ml job show`` in the home."""

    home: Path

    def az(self, *args: str) -> tuple[int, str, str]:
        return run_cli(*args, env={"BATCH_EMULATOR_HOME": str(self.home)})

    def cli(self, *args: str) -> str:
        code, out, err = self.az(*args)
        assert code == 0, f"batch-emulator {' '.join(args)} exited {code}: {err}"
        return out

    def start(self, deployment: Path, uri: str, input_type: str | None = None) -> str: ...

    def jobs(self) -> list[str]: ...

    def run(self, deployment: Path, uri: str, input_type: str | None = None) -> Finished:
        name = self.start(deployment, uri, input_type)

        def ended() -> dict | None:
            document = json.loads(self.cli("ml", "job", "show", "--name", name))
            return document if document["status"] in TERMINAL else None

        document = wait_for(ended, JOB_TIMEOUT, f"job {name} to end")
        properties = document["properties"]
        output = properties["output_file"]
        rows = sorted(Path(output).read_text().splitlines()) if output else []
        report = Path(properties["job_folder"], "logs", "sys", "job_report",
                      "processed_mini-batches.csv")
        with open(report, newline="") as file:
            by_id = {row["Mini-batch Id"]: row for row in csv.DictReader(file)}
        return Finished(document["status"], int(properties["files_total"]),
                        int(properties["files_failed"]), rows,
                        (document.get("error") or {}).get("message"), by_id)


class PythonFront(Front):
    """``emulator.start_batch_job``; the input type as the ``file:``/``folder:`` prefix."""

    def __init__(self, home: Path, scheduler_address: str):
        self.home, self.scheduler_address = home, scheduler_address

    def start(self, deployment, uri, input_type=None, output_path=None):
        from emulator import start_batch_job

        prefix = {"uri_file": "file:", "uri_folder": "folder:"}.get(input_type or "", "")
        try:
            return start_batch_job(deployment, prefix + uri, home=self.home,
                                   scheduler_address=self.scheduler_address or None,
                                   output_path=output_path).name
        except EmulatorError as exc:
            raise Refused(str(exc), code=exc.code, exit_code=exc.exit_code) from exc

    def jobs(self):
        return [job["name"] for job in json.loads(self.cli("ml", "job", "list"))]


class CliFront(Front):
    """``batch-emulator ml batch-endpoint invoke --input URL [--input-type T]``."""

    ENDPOINT = "public-ep"

    def __init__(self, home: Path, scheduler_address: str):
        self.home = home
        self.cli("ml", "compute", "create", "-n", "public-cluster", "--type", "dask", "--set",
                 f"scheduler_address={scheduler_address}")
        self.cli("ml", "batch-endpoint", "create", "--name", self.ENDPOINT)
        self.deployed: set[Path] = set()

    def start(self, deployment, uri, input_type=None):
        if deployment not in self.deployed:
            self.deployed.add(deployment)
            self.cli("ml", "batch-deployment", "create", "--file", str(deployment), "--name",
                     f"dep-{len(self.deployed)}", "--endpoint-name", self.ENDPOINT,
                     "--set-default", "--set", "compute=azureml:public-cluster")
        args = ["ml", "batch-endpoint", "invoke", "--name", self.ENDPOINT, "--input", uri]
        if input_type:
            args += ["--input-type", input_type]
        code, out, err = self.az(*args)
        if code != 0:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("ERROR: "), (code, err)
            raise Refused(lines[0].removeprefix("ERROR: "), exit_code=code)
        return json.loads(out)["name"]

    def jobs(self):
        return [job["name"] for job in json.loads(self.cli("ml", "job", "list"))]


class RestFront(Front):
    """``POST <scoring_uri>``: ``InputData`` with a JobInputType, or ``dataset`` as a
    ``DataUrl`` (no type) when none is given."""

    def __init__(self, server):
        import httpx

        from tests.service.conftest import COMPUTE

        self.server, self.home, self.compute = server, server.home, COMPUTE
        self.endpoint = f"ep-{uuid.uuid4().hex[:12]}"  # the server is shared by the module
        self.cli("ml", "batch-endpoint", "create", "--name", self.endpoint)
        self.scoring_uri = f"{server.url}/endpoints/{self.endpoint}/jobs"
        self.client = httpx.Client(headers={"Authorization": f"Bearer {server.token()}"},
                                   timeout=60)
        self.deployed: set[Path] = set()

    def start(self, deployment, uri, input_type=None):
        if deployment not in self.deployed:
            self.deployed.add(deployment)
            self.cli("ml", "batch-deployment", "create", "--file", str(deployment), "--name",
                     f"dep-{len(self.deployed)}", "--endpoint-name", self.endpoint,
                     "--set-default", "--set", f"compute=azureml:{self.compute}")
        if input_type is None:
            properties = {"dataset": {"dataInputType": "DataUrl", "path": uri}}
        else:
            kind = {"uri_file": "UriFile", "uri_folder": "UriFolder"}[input_type]
            properties = {"InputData": {"input": {"JobInputType": kind, "Uri": uri}}}
        response = self.client.post(self.scoring_uri, json={"properties": properties})
        if response.status_code != 200:
            error = response.json()["error"]
            raise Refused(error["message"], code=error["code"],
                          http_status=response.status_code)
        return response.json()["name"]

    def jobs(self):
        response = self.client.get(self.scoring_uri)
        assert response.status_code == 200, response.text
        return [job["name"] for job in response.json()["value"]]

    def close(self) -> None:
        self.client.close()


@pytest.fixture(params=["python", "cli", "rest"])
def front(request, home, dask_scheduler_address) -> Iterator[Front]:
    if request.param == "python":
        yield PythonFront(home, dask_scheduler_address)
    elif request.param == "cli":
        yield CliFront(home, dask_scheduler_address)
    else:
        rest = RestFront(request.getfixturevalue("rest_server"))
        yield rest
        rest.close()


def refused(front: Front, deployment: Path, uri: str, input_type: str | None = None,
            **options: str) -> Refused:
    """The front's refusal of ``uri``; it must have left no job behind."""
    before = front.jobs()
    with pytest.raises(Refused) as caught:
        front.start(deployment, uri, input_type, **options)
    assert front.jobs() == before
    assert "\n" not in caught.value.message
    return caught.value


# ----------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize("input_type", ["uri_folder", None])
def test_a_public_blob_folder_is_listed_and_read_anonymously(front, public_blob, make_deployment,
                                                             input_type):
    finished = front.run(make_deployment("succeed_list.py", mini_batch_size=2),
                         public_blob.url("sampledata", "mnist"), input_type)

    assert finished.status == "Completed", finished.error
    assert finished.total == 3  # the hidden blob is skipped, the sub-folder is read
    assert finished.rows == ["0.png: 3", "1.png: 5", "2.png: 7"]


# Without a type, a URL that is not a blob container's is a file. (On loopback, a URL with two
# segments or more and no type reads as Azurite's <account>/<container>: the file at the top.)
@pytest.mark.parametrize(("input_type", "path"), [("uri_file", "nytaxi/taxi-tip-data.csv"),
                                                  (None, "taxi-tip-data.csv")])
def test_a_file_on_any_url_is_streamed_to_the_worker(front, web_server, make_deployment,
                                                     input_type, path):
    token = uuid.uuid4().hex
    finished = front.run(make_deployment("succeed_list.py"),
                         f"{web_server.url}/{path}?sig={token}", input_type)

    assert finished.status == "Completed", finished.error
    assert finished.total == 1
    assert finished.rows == [f"taxi-tip-data.csv: {len(TAXI)}"]
    assert f"/{path}?sig={token}" in web_server.requests  # the query is kept


def test_a_download_that_fails_on_the_worker_is_a_failed_attempt_naming_the_url(
        front, web_server, make_deployment):
    name = f"gone-{uuid.uuid4().hex[:8]}.csv"
    (web_server.folder / name).write_bytes(TAXI)
    web_server.budgets[f"/{name}"] = 2  # invoke's check and the job's listing; not the worker
    deployment = make_deployment("succeed_list.py", max_retries=1)
    finished = front.run(deployment, f"{web_server.url}/{name}", "uri_file")

    assert finished.failed == 1 and finished.total == 1, finished
    assert web_server.requests.count(f"/{name}") == 4  # two attempts, each tried to download
    assert finished.report["0"]["Status"] == "RUN_EXCEPTION"
    assert finished.report["0"]["Attempts"] == "2"
    assert finished.report["0"]["Error Message"] == (
        f"the input could not be downloaded: {web_server.url}/{name}: not found (HTTP 404 "
        "Not Found); fix the URL")


def test_a_public_blob_file_is_a_uri_file(front, public_blob, make_deployment):
    finished = front.run(make_deployment("succeed_list.py"),
                         public_blob.url("sampledata", "nytaxi/taxi-tip-data.csv"), "uri_file")

    assert finished.status == "Completed", finished.error
    assert finished.rows == [f"taxi-tip-data.csv: {len(TAXI)}"]


@pytest.mark.parametrize(("asset_type", "where", "rows"), [
    ("uri_folder", "blob:mnist", ["0.png: 3", "1.png: 5", "2.png: 7"]),
    ("uri_file", "blob:nytaxi/taxi-tip-data.csv", [f"taxi-tip-data.csv: {len(TAXI)}"]),
    ("uri_file", "web:nytaxi/taxi-tip-data.csv", [f"taxi-tip-data.csv: {len(TAXI)}"]),
])
def test_a_data_asset_on_a_url_is_read_where_it_is(front, public_blob, web_server,
                                                   make_deployment, asset_type, where, rows):
    kind, path = where.split(":", 1)
    url = public_blob.url("sampledata", path) if kind == "blob" else f"{web_server.url}/{path}"
    name = f"public-{uuid.uuid4().hex[:8]}"
    front.cli("ml", "data", "create", "--name", name, "--version", "1", "--type", asset_type,
              "--path", url)

    finished = front.run(make_deployment("succeed_list.py"), f"azureml:{name}:1")

    assert finished.status == "Completed", finished.error
    assert finished.rows == rows


@pytest.mark.parametrize("kind", ["web file", pytest.param("blob folder", marks=pytest.mark.slow)])
def test_an_unreachable_url_is_refused_in_one_line_at_invoke(front, make_deployment, kind):
    if kind == "web file":
        uri, input_type = closed_url("nytaxi/taxi-tip-data.csv"), "uri_file"
    else:  # Azurite's path-style URL of a folder: the blob client's few retries take seconds
        pytest.importorskip("azure.storage.blob", reason="Azure Blob inputs need the extra")
        uri, input_type = closed_url("devstoreaccount1/sampledata/mnist"), "uri_folder"
    error = refused(front, make_deployment("succeed_list.py"), uri, input_type)

    assert error.is_a(StorageUnavailableError)
    assert error.message.startswith(f"{uri} cannot be reached (")
    assert "Connection refused" in error.message


def test_a_folder_on_a_plain_web_server_is_refused(front, web_server, make_deployment):
    uri = f"{web_server.url}/nytaxi"
    error = refused(front, make_deployment("succeed_list.py"), uri, "uri_folder")

    assert error.is_a(InputError)
    assert error.message.startswith(f"{uri}: a uri_folder on an http(s) URL must be a public "
                                    "Azure Blob container's")


def test_a_web_server_that_is_no_blob_store_is_refused_in_one_line(front, web_server,
                                                                  make_deployment):
    uri = f"{web_server.url}/nytaxi/taxi-tip-data.csv"  # on loopback: Azurite's path style
    error = refused(front, make_deployment("succeed_list.py"), uri)

    assert error.message.startswith(f"{uri} did not answer as Azure Blob Storage does (")
    assert error.message.endswith("; check the URL; for one file on a web server pass "
                                  "--input-type uri_file")


def test_a_missing_file_on_a_web_server_is_refused(front, web_server, make_deployment):
    uri = f"{web_server.url}/nytaxi/missing.csv"
    error = refused(front, make_deployment("succeed_list.py"), uri, "uri_file")

    assert error.is_a(MissingObjectError)
    assert error.message.startswith(f"{uri}: not found (HTTP 404")


def test_a_missing_folder_of_a_public_container_is_refused(front, public_blob,
                                                           make_deployment):
    uri = public_blob.url("sampledata", "nothing-here")
    error = refused(front, make_deployment("succeed_list.py"), uri, "uri_folder")

    assert error.is_a(InputError)
    assert error.message.startswith("input ")  # as given: Python's folder: prefix stays
    assert error.message.endswith(f"{uri} does not exist at its URL; upload the data or fix "
                                  "the path")


def test_a_private_container_is_refused_naming_public_access(front, public_blob,
                                                             make_deployment):
    uri = public_blob.url("private", "mnist")
    error = refused(front, make_deployment("succeed_list.py"), uri, "uri_folder")

    assert uri in error.message
    assert "; the container must allow anonymous access (public access: container, which also " \
        "lets a folder be listed)" in error.message, error.message


def test_an_output_on_a_url_is_refused(home, web_server, make_deployment):
    front = PythonFront(home, "")
    error = refused(front, make_deployment("succeed_list.py"),
                    f"{web_server.url}/taxi-tip-data.csv", output_path=f"{web_server.url}/out/")

    assert error.is_a(InputError)
    assert error.message == (f"{web_server.url}/out/: an http(s) URL can only be read as a job "
                             "input; write to a local path or azureml://datastores/<ds>/paths/<p>")
