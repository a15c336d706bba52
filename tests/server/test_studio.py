"""The Studio pages through the server's routes: a finished job with retries and failures
drawn attempt by attempt, its failure found with its traceback, logs and outputs served
without leaving the job, the workspace and endpoint pages, a pipeline's step graph, the token
rules beyond loopback, and ``services.Studio.endpoint`` through Python, the CLI and REST
(the pages in a real browser: test_studio_browser.py)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import yaml

from emulator.server import charts
from emulator.service import BatchService
from emulator.service.activity import AttemptMark
from emulator.workspace.auth import MANAGEMENT_RESOURCE, ML_RESOURCE, issue_token
from tests.helpers import MODEL, SCORING, run_cli, start_server, stop_server
from tests.server.conftest import WS

FAILING_FILES = ["a-bad.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt", "g.txt"]


def write_deployment(folder: Path, script: str, compute: str | None = "azureml:cluster",
                     **settings) -> Path:
    path = folder / f"deployment-{script}.yml"
    path.write_text(yaml.safe_dump({
        "name": "blue", "endpoint_name": "studio-endpoint", "type": "model",
        "model": {"path": str(MODEL)}, **({"compute": compute} if compute else {}),
        "code_configuration": {"code": str(SCORING), "scoring_script": script},
        "resources": {"instance_count": 2},
        "settings": {"mini_batch_size": 2, "max_concurrency_per_instance": 2,
                     "error_threshold": -1, "retry_settings": {"max_retries": 1, "timeout": 30},
                     **settings}}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, dask_scheduler_address):
    """A home with an endpoint whose job Completed with one mini-batch failed after a retry:
    (home, job name)."""
    folder = tmp_path_factory.mktemp("studio")
    home = folder / "home"
    service = BatchService(home=home)
    service.create_compute(set_values=["name=cluster", "type=dask",
                                       f"scheduler_address={dask_scheduler_address}"])
    service.create_endpoint(name="studio-endpoint")
    service.create_deployment(write_deployment(
        folder, "raise_on_file.py", environment_variables={"FAIL_ON": "bad"}), set_default=True)
    inputs = folder / "inputs"
    inputs.mkdir()
    for name in FAILING_FILES:
        (inputs / name).write_text(name)
    name = service.invoke("studio-endpoint", input=str(inputs), mini_batch_size=3)["name"]
    record = service.wait_job(name, timeout=120)
    assert record.status == "Completed" and record.mini_batches_failed == 1, record.error
    return home, name


@pytest.fixture(scope="module")
def pages(finished) -> Iterator[httpx.Client]:
    """A client of ``serve`` on loopback over the finished job's home."""
    url, process = start_server(finished[0])
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client
    stop_server(process)


class Elements(HTMLParser):
    """Every start tag's attributes, and the text inside elements of a class."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def having(self, tag: str, attribute: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag and attribute in attrs]


def job_url(name: str, workspace: str = "default") -> str:
    return f"/studio/workspaces/{workspace}/jobs/{name}"


def attempts_of(home: Path, name: str) -> list[dict]:
    folder = Path(BatchService(home=home).job_record(name).job_folder)
    return [json.loads(line) for line in (folder / "attempts.jsonl").read_text().splitlines()]


def test_the_timeline_has_one_bar_per_attempt(pages, finished):
    home, name = finished
    page = pages.get(job_url(name))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    bars = Elements(page.text).having("rect", "data-attempt")
    recorded = attempts_of(home, name)
    assert sorted((int(b["data-mini-batch"]), int(b["data-attempt"])) for b in bars) == \
        sorted((a["mini_batch"], a["attempt"]) for a in recorded)
    assert len(bars) == 4  # three mini-batches, the failing one tried twice
    failing = [b for b in bars if b["data-mini-batch"] == "0"]
    assert [b["data-status"] for b in failing] == ["RUN_EXCEPTION", "RUN_EXCEPTION"]
    assert "retried" in min(failing, key=lambda b: b["data-attempt"])["class"]
    assert all("attempt done" in b["class"] for b in bars if b["data-mini-batch"] != "0")
    # each bar is on the row of the instance and process that ran it
    rows = {attrs["data-row"] for attrs in Elements(page.text).having("text", "data-row")}
    assert {f"{b['data-instance']} / {b['data-process']}" for b in bars} <= rows
    assert len(rows) == 4  # 2 instances x 2 processes, idle ones included


def test_the_failed_mini_batch_shows_where_how_often_and_why(pages, finished):
    home, name = finished
    page = Elements(pages.get(job_url(name)).text)
    text = "".join(page.text)
    failure = next(a for a in page.having("details", "data-mini-batch"))
    assert failure["data-mini-batch"] == "0"
    last = [a for a in attempts_of(home, name) if a["mini_batch"] == 0][-1]
    assert (f"mini-batch 0 · RUN_EXCEPTION after 2 attempts · last on {last['instance']} / "
            f"{last['process']} · ValueError: cannot score a-bad.txt") in text
    assert 'raise_on_file.py", line' in text and "ValueError: cannot score a-bad.txt" in text
    assert "a-bad.txt" in text and "c.txt" in text  # the mini-batch's files
    counters = {a["data-count"]: None for a in page.having("span", "data-count")}
    assert set(counters) >= {"files-succeeded", "files-failed", "mini-batches-completed",
                             "mini-batches-failed", "mini-batches-retried", "attempts"}
    assert "2 succeeded · 1 failed · 1 retried · 3 of 3 processed" in " ".join(text.split())


def test_slowest_mini_batches_and_their_durations(pages, finished):
    _, name = finished
    page = Elements(pages.get(job_url(name)).text)
    slowest = [a["data-mini-batch"] for a in page.having("tr", "data-mini-batch")]
    assert sorted(slowest) == ["0", "1", "2"]
    bins = page.having("rect", "data-count")
    assert sum(int(b["data-count"]) for b in bins) == 3  # one per mini-batch


def test_the_live_part_is_served_alone_and_says_the_job_ended(pages, finished):
    _, name = finished
    live = pages.get(job_url(name) + "/live")
    assert live.status_code == 200
    state = Elements(live.text).having("div", "data-terminal")[0]
    assert state["data-terminal"] == "true" and state["data-status"] == "Completed"
    assert "<html" not in live.text


def test_logs_are_readable_in_the_page_and_raw(pages, finished):
    home, name = finished
    page = pages.get(job_url(name))
    assert "job_progress_overview.txt" in page.text and "Completed: 4 of 7" in page.text
    error_log = next(p for p in Path(BatchService(home=home).job_record(name).job_folder,
                                     "logs", "user", "error").rglob("*.txt"))
    relative = error_log.relative_to(error_log.parents[3]).as_posix()
    shown = pages.get(job_url(name), params={"log": relative})
    assert "ValueError: cannot score a-bad.txt" in shown.text
    raw = pages.get(f"{job_url(name)}/files/logs/{relative}")
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/plain")
    assert raw.text == error_log.read_text()


@pytest.mark.parametrize("path", ["files/logs/../job.json", "files/logs/%2e%2e/job.json",
                                  "files/logs/..%2Fjob.json", "files/score/../../job.json",
                                  "files/logs//etc/passwd", "files/nope/x.txt",
                                  "?log=../job.json", "?log=/etc/passwd"])
def test_no_file_outside_the_jobs_logs_and_outputs(pages, finished, path):
    _, name = finished
    answer = pages.get(f"{job_url(name)}{'' if path.startswith('?') else '/'}{path}",
                       follow_redirects=True)
    assert answer.status_code == 404, answer.text
    assert "root:" not in answer.text and '"job_folder"' not in answer.text


def test_outputs_download_as_files(pages, finished):
    home, name = finished
    page = Elements(pages.get(job_url(name)).text)
    links = [a["href"] for a in page.having("a", "download")]
    assert links == [f"{job_url(name)}/files/score/predictions.csv"]
    answer = pages.get(links[0])
    assert answer.headers["content-disposition"].startswith("attachment")
    output = Path(BatchService(home=home).job_record(name).output_folder) / "predictions.csv"
    assert answer.content == output.read_bytes()


def test_the_commands_reproduce_the_job(pages, finished):
    home, name = finished
    text = pages.get(job_url(name)).text
    inputs = Path(BatchService(home=home).job_record(name).input_path)
    assert (f"batch-emulator ml batch-endpoint invoke --name studio-endpoint --deployment-name "
            f"blue --input {inputs} --input-type uri_folder --set mini_batch_size=3") in text
    assert f"batch-emulator ml job download --name {name} --all" in text


def test_the_workspace_and_endpoint_pages(pages, finished):
    _, name = finished
    workspace = pages.get("/studio", follow_redirects=True)
    assert workspace.url.path == "/studio/workspaces/default"
    seen = Elements(workspace.text)
    assert [a["data-endpoint"] for a in seen.having("tr", "data-endpoint")] == ["studio-endpoint"]
    assert name in [a["data-job"] for a in seen.having("tr", "data-job")]
    assert "blue" in workspace.text  # the endpoint's default deployment
    endpoint = pages.get("/studio/workspaces/default/endpoints/studio-endpoint")
    seen = Elements(endpoint.text)
    assert [a["data-deployment"] for a in seen.having("tr", "data-deployment")] == ["blue"]
    assert "max_concurrency_per_instance" in endpoint.text and name in endpoint.text
    missing = pages.get("/studio/workspaces/default/endpoints/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]


def test_pages_escape_what_users_wrote(pages, finished):
    home, name = finished
    BatchService(home=home).update_job(name, ["display_name=<script>alert(1)</script>"])
    try:
        page = pages.get(job_url(name))
        assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    finally:
        BatchService(home=home).update_job(name, [f"display_name={name}"])


def test_a_pipeline_job_shows_its_steps_as_a_graph(tmp_path, dask_scheduler_address):
    home = tmp_path / "home"
    service = BatchService(home=home)
    service.create_compute(set_values=["name=cluster", "type=dask",
                                       f"scheduler_address={dask_scheduler_address}"])

    def step(name, command_line, inputs=None):
        return {"name": name, "type": "command", "command": command_line,
                "inputs": inputs or {}, "outputs": {"out": {"type": "uri_folder"}}}

    (tmp_path / "pipeline.yml").write_text(yaml.safe_dump({
        "name": "graph", "type": "pipeline", "jobs": {
            "make": {"component": step("make", "echo made > ${{outputs.out}}/x.txt")},
            "use": {"component": step("use", "cat ${{inputs.x}}/x.txt",
                                      {"x": {"type": "uri_folder"}}),
                    "inputs": {"x": "${{parent.jobs.make.outputs.out}}"}},
            "broken": {"component": step("broken", "exit 3")}}}))
    (tmp_path / "job.yml").write_text(yaml.safe_dump({
        "type": "pipeline", "component": "./pipeline.yml",
        "settings": {"default_compute": "azureml:cluster", "continue_on_step_failure": True}}))
    name = service.create_job(str(tmp_path / "job.yml"))["name"]
    service.wait_job(name, timeout=120)
    url, process = start_server(home)
    try:
        page = Elements(httpx.get(url + job_url(name), timeout=30).text)
    finally:
        stop_server(process)
    steps = {a["data-step"]: a["data-status"] for a in page.having("g", "data-step")}
    assert steps == {"make": "Completed", "use": "Completed", "broken": "Failed"}
    assert len(page.having("path", "marker-end")) == 1  # make -> use
    step_links = [a["href"] for a in page.having("a", "href") if f"{name}-" in a["href"]]
    assert sorted(step_links) == sorted(job_url(f"{name}-{s}") for s in steps)


# ---------------------------------------------------------------- tokens beyond loopback


@pytest.fixture(scope="module")
def guarded_server(finished) -> Iterator[str]:
    """``serve`` listening beyond loopback over the finished job's home: its URL."""
    url, process = start_server(finished[0], "--host", "0.0.0.0", "--allow-remote")
    yield url.replace("0.0.0.0", "127.0.0.1")
    stop_server(process)


@pytest.fixture
def guarded(guarded_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded_server, timeout=30) as client:
        yield client


def test_beyond_loopback_a_page_without_a_token_is_refused(guarded, finished):
    _, name = finished
    answer = guarded.get(job_url(name))
    assert answer.status_code == 401
    assert "?token=" in answer.json()["error"]["message"]


@pytest.mark.parametrize("resource", [MANAGEMENT_RESOURCE, ML_RESOURCE])
def test_a_token_in_the_url_becomes_a_cookie_and_leaves_the_url(guarded, finished, resource):
    home, name = finished
    token = issue_token(home, resource)["accessToken"]
    answer = guarded.get(job_url(name), params={"token": token, "log": "job_result.txt"},
                         follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{job_url(name)}?log=job_result.txt"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/studio" in cookie
    followed = guarded.get(answer.headers["location"])  # the client keeps the cookie
    assert followed.status_code == 200 and "Completed" in followed.text


def test_a_bearer_token_opens_the_pages_and_a_bad_one_does_not(guarded, finished):
    home, name = finished
    token = issue_token(home, MANAGEMENT_RESOURCE)["accessToken"]
    assert guarded.get(job_url(name), headers={"Authorization": f"Bearer {token}"}
                       ).status_code == 200
    assert guarded.get(job_url(name), params={"token": token[:-4] + "AAAA"}).status_code == 401
    guarded.cookies.set("batch_emulator_studio", "forged", path="/studio")
    assert guarded.get(job_url(name)).status_code == 401


# ---------------------------------------------------------- where job documents link


@pytest.fixture(scope="module")
def lonely(tmp_path_factory, dask_scheduler_address) -> tuple[Path, str]:
    """A home no server serves yet, with one job: (home, job name)."""
    folder = tmp_path_factory.mktemp("lonely")
    inputs = folder / "inputs"
    inputs.mkdir()
    (inputs / "one.txt").write_text("1")
    deployment = write_deployment(folder, "succeed_list.py", compute=None)
    service = BatchService(home=folder / "home")
    job = service.start_job(deployment, inputs, scheduler_address=dask_scheduler_address)
    assert job.wait(timeout=120).status == "Completed"
    return folder / "home", job.name


def studio_endpoint(front: str, home: Path, name: str, url: str | None) -> str:
    if front == "python":
        return BatchService(home=home).show_job(name)["services"]["Studio"]["endpoint"]
    if front == "cli":
        code, out, err = run_cli("ml", "job", "show", "-n", name, "--query",
                                 "services.Studio.endpoint", "-o", "tsv",
                                 env={"BATCH_EMULATOR_HOME": str(home)})
        assert code == 0, err
        return out.strip()
    token = issue_token(home, MANAGEMENT_RESOURCE)["accessToken"]
    answer = httpx.get(f"{url}{WS}/jobs/{name}", params={"api-version": "2024-04-01"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["properties"]["services"]["Studio"]["endpoint"]


@pytest.mark.parametrize("front", ["python", "cli", "rest"])
def test_a_job_links_to_its_page_while_a_server_runs_else_to_its_folder(lonely, front):
    home, name = lonely
    url, process = start_server(home)
    try:
        assert studio_endpoint(front, home, name, url) == f"{url}{job_url(name)}"
    finally:
        stop_server(process)
    if front != "rest":
        folder = BatchService(home=home).job_record(name).job_folder
        assert studio_endpoint(front, home, name, None) == Path(folder).as_uri()


def test_job_show_web_opens_the_page_in_the_browser(lonely, tmp_path):
    home, name = lonely
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    code, out, err = run_cli("ml", "job", "show", "-n", name, "--web",
                             env={"BATCH_EMULATOR_HOME": str(home), "BROWSER": str(browser),
                                  "DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert code == 0, err
    folder_uri = Path(BatchService(home=home).job_record(name).job_folder).as_uri()
    assert err.strip() == folder_uri and json.loads(out)["name"] == name
    assert opened.read_text().strip() == folder_uri


def test_the_page_url_carries_a_token_only_beyond_loopback(finished):
    home, _ = finished
    service = BatchService(home=home)
    assert service.studio_sign_in("http://127.0.0.1:1/studio") == "http://127.0.0.1:1/studio"
    signed = service.studio_sign_in("http://10.1.2.3:8790/studio/x")
    token = signed.partition("?token=")[2]
    assert signed.startswith("http://10.1.2.3:8790/studio/x?token=") and token
    from emulator.workspace.auth import verify_token

    assert verify_token(home, token, MANAGEMENT_RESOURCE)


# ------------------------------------------------------------------- chart geometry


def mark(mini_batch, attempt, start, elapsed, status="RUN_DONE", attempts=1,
         instance="instance-0", process="process000") -> AttemptMark:
    return AttemptMark(mini_batch=mini_batch, attempt=attempt, attempts=attempts,
                       instance=instance, process=process, start=start, elapsed=elapsed,
                       status=status, error="", files=("f.txt",))


def test_timeline_places_bars_by_time_and_keeps_idle_rows():
    marks = [mark(0, 1, 100.0, 2.0, "RUN_TIMEOUT", attempts=2), mark(0, 2, 102.0, 1.0),
             mark(1, 1, 100.5, 0.00001, instance="instance-1")]
    drawn = charts.timeline(marks, ["instance-0 / process000", "instance-2 / process000"],
                            start=100.0, end=104.0)
    assert drawn.rows == ["instance-0 / process000", "instance-1 / process000",
                          "instance-2 / process000"]
    first, second, tiny = drawn.bars
    scale = (charts.WIDTH - charts.LABEL_WIDTH) / 4.0
    assert first.x == charts.LABEL_WIDTH and first.width == pytest.approx(2 * scale)
    assert second.x == pytest.approx(charts.LABEL_WIDTH + 2 * scale)
    assert first.classes == "attempt timeout retried" and second.classes == "attempt done"
    assert tiny.width == charts.MIN_BAR and tiny.y > first.y
    assert [label for _, label in drawn.ticks] == ["0 s", "1 s", "2 s", "3 s", "4 s"]


def test_histogram_counts_every_duration_once():
    drawn = charts.histogram([0.0, 0.1, 0.1, 1.0, 2.0], bins=4)
    assert [b.count for b in drawn.bins] == [3, 0, 1, 1] and drawn.top == 3
    assert drawn.bins[0].height > drawn.bins[2].height > drawn.bins[1].height == 0


def test_step_graph_puts_each_step_right_of_what_it_waits_for():
    graph = charts.step_graph([("c", {}), ("a", {}), ("b", {})], {"c": ["b"], "b": ["a"]})
    assert graph.names["a"].x < graph.names["b"].x < graph.names["c"].x
    assert len(graph.edges) == 2


@pytest.mark.parametrize("value,shown", [(0, "0 s"), (0.0004, "0.4 ms"), (0.25, "250 ms"),
                                         (3.2, "3.2 s"), (245, "4 min 5 s"),
                                         (7380, "2 h 3 min")])
def test_durations_read_as_a_person_would(value, shown):
    assert charts.seconds(value) == shown


def test_the_pages_ship_in_the_package():
    root = Path(charts.__file__).parent
    assert {p.name for p in (root / "templates").glob("*.html")} >= {
        "base.html", "workspace.html", "endpoint.html", "job.html", "job_live.html"}
    assert all(os.path.getsize(root / "static" / n) for n in ("studio.css", "studio.js"))


def test_a_file_name_that_is_not_utf8_is_shown_not_refused(lonely, tmp_path,
                                                            dask_scheduler_address):
    home, _ = lonely
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("x")
    deployment = write_deployment(tmp_path, "raise_on_file.py", compute=None,
                                  environment_variables={"FAIL_ON": "caf"})
    job = BatchService(home=home).start_job(deployment, folder,
                                            scheduler_address=dask_scheduler_address)
    assert job.wait(timeout=120).mini_batches_failed == 1
    url, process = start_server(home)
    try:
        page = httpx.get(url + job_url(job.name), timeout=30)
    finally:
        stop_server(process)
    assert page.status_code == 200 and "caf\ufffd.txt" in page.text
    assert len(Elements(page.text).having("rect", "data-attempt")) == 2  # max_retries 1
