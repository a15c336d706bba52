"""Hostile requests through the CLI, REST and Python alike: names that would leave the home,
bodies built to crash a parser. Every refusal is a 4xx / non-zero exit naming the field, and
nothing is created outside the home. Add a row to try another."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator import run_batch_job
from emulator.exceptions import ValidationError
from emulator.workspace.auth import MANAGEMENT_RESOURCE, ML_RESOURCE, issue_token
from tests.helpers import MODEL, SCORING, run_cli, start_server, stop_server

WS = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
      "Microsoft.MachineLearningServices/workspaces/default")
BAD_JOB_NAMES = [
    pytest.param("../../../escaped", id="climbs-out"),
    pytest.param("a/b", id="slash"),
    pytest.param("/tmp/abs", id="absolute"),
    pytest.param("x" * 256, id="too-long"),
    pytest.param("with space", id="space"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, dask_scheduler_address) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("hostile") / "home"
    url, process = start_server(home)
    env = {"BATCH_EMULATOR_HOME": str(home)}
    deployment = home.parent / "deployment.yml"
    deployment.write_text(json.dumps({
        "name": "plain", "endpoint_name": "hostile-ep", "type": "model",
        "model": {"path": str(MODEL)}, "compute": "azureml:cluster",
        "code_configuration": {"code": str(SCORING), "scoring_script": "succeed_list.py"}}))
    for args in (["ml", "compute", "create", "-n", "cluster", "--type", "dask", "--set",
                  f"scheduler_address={dask_scheduler_address}"],
                 ["ml", "batch-endpoint", "create", "-n", "hostile-ep"],
                 ["ml", "batch-deployment", "create", "-f", str(deployment), "--set-default"]):
        assert run_cli(*args, env=env)[0] == 0
    yield home, url
    stop_server(process)


def nothing_escaped(home: Path) -> None:
    assert not (home.parent / "escaped").exists() and not Path("/tmp/abs").exists()
    jobs = home / "default" / "jobs"
    assert not jobs.exists() or all(p.parent == jobs for p in jobs.iterdir())


@pytest.mark.parametrize("name", BAD_JOB_NAMES)
@pytest.mark.parametrize("front", ["python", "cli", "rest"])
def test_a_job_name_that_azure_refuses_is_refused(front, name, server, make_inputs, tmp_path):
    home, url = server
    inputs = make_inputs(1)
    if front == "python":
        with pytest.raises(ValidationError, match=r"job name .* is not valid"):
            run_batch_job(home.parent / "deployment.yml", inputs, home=tmp_path / "own",
                          job_name=name, timeout=60)
        nothing_escaped(tmp_path / "own")
        return
    if front == "cli":
        code, _, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "hostile-ep", "--input",
                               str(inputs), "--job-name", name,
                               env={"BATCH_EMULATOR_HOME": str(home)})
        assert code == ValidationError.exit_code and "is not valid" in err, err
    else:
        token = issue_token(home, ML_RESOURCE)["accessToken"]
        answer = httpx.post(f"{url}/endpoints/hostile-ep/jobs", timeout=60,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"name": name, "properties": {"InputData": {"data": {
                                "JobInputType": "UriFolder", "Uri": str(inputs)}}}})
        assert answer.status_code == 400 and "is not valid" in answer.text, answer.text
    nothing_escaped(home)


# (method, path, body as raw bytes) that must be answered with a 4xx, never a 5xx
DEEP = b"[" * 200_000 + b"]" * 200_000
REQUESTS = [
    pytest.param("PUT", f"{WS}/batchEndpoints/ep-deep", DEEP, id="json-nested-200000-deep"),
    pytest.param("POST", "/endpoints/hostile-ep/jobs", b'{"properties": ' + DEEP + b"}",
                 id="invoke-nested-deep"),
    pytest.param("PUT", f"{WS}/batchEndpoints/ep-nul",
                 b'{"properties": {"description": "a\\u0000b"}}', id="nul-in-a-field"),
    pytest.param("GET", f"{WS}/batchEndpoints/a%00b", b"", id="nul-in-the-path"),
    pytest.param("GET", f"{WS}/jobs/..%2F..%2Fetc", b"", id="job-path-traversal"),
    pytest.param("PUT", f"{WS}/batchEndpoints/ep-num",
                 b'{"properties": {"description": ' + b"9" * 5000 + b"}}", id="huge-number"),
    pytest.param("POST", "/endpoints/hostile-ep/jobs",
                 b'{"properties": {"InputData": {"d": {"JobInputType": "UriFolder", '
                 b'"Uri": "/tmp/a\\u0000b"}}}}', id="nul-in-an-input"),
    pytest.param("PUT", f"{WS}/batchEndpoints/hostile-ep/deployments/d1",
                 b'{"properties": {"codeConfiguration": {"scoringScript": "../../x.py", '
                 b'"codeId": "azureml:c:1"}, "model": {"assetId": "azureml:m:1"}}}',
                 id="scoring-script-climbs-out"),
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_a_hostile_request_is_a_client_error(method, path, body, server):
    home, url = server
    resource = ML_RESOURCE if path.startswith("/endpoints") else MANAGEMENT_RESOURCE
    token = issue_token(home, resource)["accessToken"]
    answer = httpx.request(method, url + path, content=body, timeout=60,
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text[:300]
    error = answer.json()["error"]
    assert error["code"] and error["message"] and len(error["message"]) < 1000
    nothing_escaped(home)
