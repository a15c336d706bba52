"""The Studio pages in a real browser (headless Chromium over the DevTools protocol): a
finished job with a retried and a failed mini-batch, and a running job whose counters change
on the page as it runs. Screenshots are saved in each test's temporary folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from emulator.service import BatchService
from tests.helpers import (
    MODEL,
    SCORING,
    Browser,
    require_chromium,
    start_server,
    stop_server,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path) -> Iterator[Browser]:
    opened = Browser(require_chromium(), tmp_path / "chromium-profile")
    yield opened
    opened.close()


@pytest.fixture
def served(tmp_path, dask_scheduler_address) -> Iterator[tuple[str, BatchService]]:
    """A home served on loopback, with the session's Dask cluster as compute ``cluster``."""
    home = tmp_path / "home"
    service = BatchService(home=home)
    service.create_compute(set_values=["name=cluster", "type=dask",
                                       f"scheduler_address={dask_scheduler_address}"])
    service.create_endpoint(name="browsed")
    url, process = start_server(home)
    yield url, service
    stop_server(process)


def deploy(service: BatchService, folder: Path, script: str, **settings) -> None:
    path = folder / f"{script}.yml"
    path.write_text(yaml.safe_dump({
        "name": "blue", "endpoint_name": "browsed", "type": "model", "compute": "azureml:cluster",
        "model": {"path": str(MODEL)},
        "code_configuration": {"code": str(SCORING), "scoring_script": script},
        "resources": {"instance_count": 2},
        "settings": {"mini_batch_size": 2, "max_concurrency_per_instance": 1,
                     "error_threshold": -1, **settings}}), encoding="utf-8")
    service.create_deployment(path, set_default=True)


def inputs(folder: Path, names: list[str]) -> Path:
    made = folder / "inputs"
    made.mkdir()
    for name in names:
        (made / name).write_text(name)
    return made


def count(browser: Browser, name: str) -> int:
    return int(browser.evaluate(f"document.querySelector('[data-count=\"{name}\"]').textContent"))


def test_a_finished_job_shows_each_attempt_and_the_failure(served, browser, tmp_path):
    url, service = served
    deploy(service, tmp_path, "raise_on_file.py",
           retry_settings={"max_retries": 2, "timeout": 30},
           environment_variables={"FAIL_ON": "bad"})
    name = service.invoke("browsed", input=str(inputs(
        tmp_path, ["a.txt", "b.txt", "c-bad.txt", "d.txt", "e.txt", "f.txt"])))["name"]
    assert service.wait_job(name, timeout=120).mini_batches_failed == 1
    attempts = [json.loads(line) for line in Path(service.job_record(name).job_folder,
                                                  "attempts.jsonl").read_text().splitlines()]

    browser.open(f"{url}/studio/workspaces/default/jobs/{name}")
    bars = browser.evaluate("""Array.from(document.querySelectorAll('svg.timeline rect.attempt'))
        .map(r => [Number(r.dataset.miniBatch), Number(r.dataset.attempt), r.dataset.status,
                   r.getBoundingClientRect().width > 0])""")
    assert sorted(bar[:3] for bar in bars) == sorted(
        [a["mini_batch"], a["attempt"], a["status"]] for a in attempts)
    assert len(bars) == 5 and all(visible for *_, visible in bars)  # 3 tries of one, 2 others
    colours = browser.evaluate("""[...new Set(Array.from(document.querySelectorAll(
        'rect.attempt')).map(r => getComputedStyle(r).fill + ' ' + getComputedStyle(r).fillOpacity))]""")
    assert len(colours) == 3, colours  # succeeded, retried, failed for good: styled apart
    failure = browser.evaluate("""(() => { const d = document.querySelector('details.failure');
        return [d.dataset.miniBatch, d.open, d.querySelector('summary').textContent,
                d.querySelector('pre.traceback').innerText]; })()""")
    last = [a for a in attempts if a["mini_batch"] == 1][-1]
    assert failure[0] == "1" and failure[1] is True
    assert f"after 3 attempts · last on {last['instance']} / {last['process']}" in failure[2]
    assert "raise_on_file.py" in failure[3] and "ValueError: cannot score c-bad.txt" in failure[3]
    tooltip = browser.evaluate("document.querySelector('rect.attempt.exception title')"
                               ".textContent")
    assert tooltip.startswith("mini-batch 1, attempt ") and "c-bad.txt" in tooltip
    assert browser.evaluate("document.querySelector('.live-state').dataset.terminal") == "true"
    assert browser.screenshot(tmp_path / "job-with-failure.png").stat().st_size > 20_000

    browser.open(f"{url}/studio/workspaces/default")
    assert browser.evaluate(f"!!document.querySelector('tr[data-job=\"{name}\"]')")
    browser.screenshot(tmp_path / "workspace.png")
    browser.open(f"{url}/studio/workspaces/default/endpoints/browsed")
    assert browser.evaluate("document.querySelector('tr[data-deployment]').dataset.deployment") \
        == "blue"
    browser.screenshot(tmp_path / "endpoint.png")


def test_a_running_jobs_counters_change_on_the_open_page(served, browser, tmp_path):
    url, service = served
    deploy(service, tmp_path, "slow_list.py", mini_batch_size=1,
           environment_variables={"SLOW_SECONDS": "0.4"})
    files = [f"f{number:02d}.txt" for number in range(16)]
    name = service.invoke("browsed", input=str(inputs(tmp_path, files)))["name"]
    wait_for(lambda: service.job_record(name).mini_batches_completed >= 1, 60,
             "the first mini-batch")

    browser.open(f"{url}/studio/workspaces/default/jobs/{name}")
    first = count(browser, "mini-batches-completed")
    assert first < len(files), "the job ended before the page opened; slow it down"
    assert browser.evaluate("document.querySelector('.live-state').dataset.terminal") == "false"
    browser.screenshot(tmp_path / "job-running.png")
    wait_for(lambda: count(browser, "mini-batches-completed") > first, 60,
             "the page's counter to move")
    assert browser.evaluate("Number(document.getElementById('live').dataset.refreshed)") >= 1
    assert browser.evaluate("location.href").endswith(name)  # refreshed in place, not reloaded
    wait_for(lambda: browser.evaluate(
        "document.querySelector('.live-state').dataset.terminal") == "true", 120,
        "the page to see the job end")
    assert count(browser, "mini-batches-completed") == len(files)
    assert count(browser, "files-succeeded") == len(files)
    assert browser.evaluate("document.querySelectorAll('rect.attempt').length") == len(files)
    browser.screenshot(tmp_path / "job-finished.png")
