"""Components and pipeline jobs on Dask, through the Python service and the CLI alike: steps
in the order their bindings give, side by side when independent, child jobs with their logs
and outputs, failures, timeouts, cancel, and every bad input refused by the field it names
with nothing created. (The SDK's and REST's side: tests/server/test_azure_sdk_pipelines.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from emulator.exceptions import EmulatorError
from emulator.service import BatchService
from tests.helpers import pid_alive, process_gone, run_cli, wait_for

FRONTS = ["python", "cli"]


def write(folder: Path, name: str, document: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def command(name: str, command_line: str, inputs: dict | None = None,
            outputs: tuple[str, ...] = ("out",), **extra) -> dict:
    return {"name": name, "type": "command", "command": command_line,
            "inputs": inputs or {}, "outputs": {o: {"type": "uri_folder"} for o in outputs},
            **extra}


def pipeline(jobs: dict, inputs: dict | None = None, outputs: dict | None = None) -> dict:
    return {"name": "two_steps", "type": "pipeline", "inputs": inputs or {},
            "outputs": outputs or {}, "jobs": jobs}


def job_file(folder: Path, component: dict, inputs: dict | None = None,
             continue_on_step_failure: bool = False, name: str = "job.yml") -> Path:
    write(folder, "pipeline.yml", component)
    return write(folder, name, {
        "type": "pipeline", "component": "./pipeline.yml", "inputs": inputs or {},
        "settings": {"default_compute": "azureml:cluster",
                     "continue_on_step_failure": continue_on_step_failure}})


@pytest.fixture
def home(tmp_path, dask_scheduler_address) -> Path:
    home = tmp_path / "home"
    code, _, err = run_cli("ml", "compute", "create", "-n", "cluster", "--type", "dask", "--set",
                           f"scheduler_address={dask_scheduler_address}",
                           env={"BATCH_EMULATOR_HOME": str(home)})
    assert code == 0, err
    return home


class Front:
    def __init__(self, name: str, home: Path):
        self.name, self.home = name, home
        self.service = BatchService(home=home)

    def create_job(self, path: Path, *set_values: str) -> str:
        if self.name == "python":
            return self.service.create_job(str(path), set_values)["name"]
        code, out, err = run_cli("ml", "job", "create", "-f", str(path),
                                 *(["--set", *set_values] if set_values else []), "--query",
                                 "name", "-o", "tsv", env={"BATCH_EMULATOR_HOME": str(self.home)})
        assert code == 0, err
        return out.strip()

    def refused(self, call: Callable[[BatchService], object], *cli: str) -> str:
        """The one error line of a refused request (and its exit code 2/3 for the CLI)."""
        if self.name == "python":
            with pytest.raises(EmulatorError) as raised:
                call(self.service)
            return str(raised.value)
        code, _, err = run_cli(*cli, env={"BATCH_EMULATOR_HOME": str(self.home)})
        assert code in (2, 3), err
        assert err.startswith("ERROR: ") and err.count("\n") == 1, err
        return err

    def wait(self, name: str) -> dict:
        self.service.wait_job(name, timeout=120)
        return self.service.show_job(name)


@pytest.fixture(params=FRONTS)
def front(request, home) -> Front:
    return Front(request.param, home)


def test_steps_run_in_binding_order_as_child_jobs(front, tmp_path):
    component = pipeline(
        inputs={"greeting": {"type": "string", "default": "hello"},
                "data": {"type": "uri_folder"}},
        outputs={"result": {"type": "uri_folder"}},
        jobs={
            "make": {"component": command(
                "make", "cat ${{inputs.data}}/*.txt > ${{outputs.out}}/all.txt && "
                        "echo ${{inputs.greeting}} >> ${{outputs.out}}/all.txt && echo made",
                {"data": {"type": "uri_folder"}, "greeting": {"type": "string"}}),
                "inputs": {"data": "${{parent.inputs.data}}",
                           "greeting": "${{parent.inputs.greeting}}"}},
            "shout": {"component": command(
                "shout", "tr a-z A-Z < ${{inputs.text}}/all.txt > ${{outputs.out}}/loud.txt",
                {"text": {"type": "uri_folder"}}),
                "inputs": {"text": "${{parent.jobs.make.outputs.out}}"},
                "outputs": {"out": "${{parent.outputs.result}}"}}})
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("from a file\n")
    path = job_file(tmp_path, component, {"data": {"type": "uri_folder", "path": str(data)}})
    name = front.create_job(path, "inputs.greeting.value=good morning")
    shown = front.wait(name)
    assert shown["status"] == "Completed", shown.get("error")
    assert shown["type"] == "pipeline" and shown["steps"] == ["make", "shout"]
    children = front.service.child_jobs(name)
    assert [(c["name"], c["display_name"], c["status"]) for c in children] == [
        (f"{name}-make", "make", "Completed"), (f"{name}-shout", "shout", "Completed")]
    assert all(c["parent_job_name"] == name for c in children)
    result = Path(shown["outputs"]["result"]["path"]) / "loud.txt"
    assert result.read_text() == "FROM A FILE\nGOOD MORNING\n"
    step_log = Path(front.service.job_record(f"{name}-make").job_folder) / "logs" / \
        "user_logs" / "std_log.txt"
    assert step_log.read_text() == "made\n"
    overview = "\n".join(front.service.stream_job(name))
    assert "step make: Completed" in overview and "[make] made" in overview
    listed = [j["name"] for j in front.service.list_jobs()]
    assert listed == [name]  # steps are children, not jobs of the workspace's list
    code, out, _ = run_cli("ml", "job", "list", "--parent-job-name", name, "--query",
                           "[].display_name", "-o", "tsv",
                           env={"BATCH_EMULATOR_HOME": str(front.home)})
    assert (code, out) == (0, "make\nshout\n")


def test_independent_steps_run_side_by_side(front, tmp_path):
    jobs = {name: {"component": command(name, "sleep 1; echo done > ${{outputs.out}}/x")}
            for name in ("left", "right")}
    name = front.create_job(job_file(tmp_path, pipeline(jobs)))
    assert front.wait(name)["status"] == "Completed"
    records = [front.service.job_record(f"{name}-{step}") for step in ("left", "right")]
    (left_start, left_end), (right_start, right_end) = [
        (r.start_time, r.end_time) for r in records]
    assert left_start < right_end and right_start < left_end  # their runs overlap


@pytest.mark.parametrize("go_on", [False, True], ids=["stop", "continue_on_step_failure"])
def test_a_failed_step_fails_the_pipeline_and_skips_its_dependents(front, tmp_path, go_on):
    jobs = {
        "broken": {"component": command("broken", "echo about to fail; exit 3")},
        "after": {"component": command("after", "ls ${{inputs.x}}",
                                       {"x": {"type": "uri_folder"}}),
                  "inputs": {"x": "${{parent.jobs.broken.outputs.out}}"}},
        "slow_sibling": {"component": command("slow_sibling",
                                              "sleep 1; echo ok > ${{outputs.out}}/ok")}}
    name = front.create_job(job_file(tmp_path, pipeline(jobs), continue_on_step_failure=go_on))
    shown = front.wait(name)
    assert shown["status"] == "Failed"
    assert shown["error"]["message"].startswith("step broken failed: the command exited with "
                                                "code 3")
    statuses = {c["display_name"]: c["status"] for c in front.service.child_jobs(name)}
    assert statuses["broken"] == "Failed" and statuses["after"] == "Canceled"
    assert statuses["slow_sibling"] in (("Completed",) if go_on else ("Completed", "Canceled"))
    broken = front.service.show_job(f"{name}-broken")
    assert "about to fail" in front.service.job_record(broken["name"]).error_detail


def test_a_step_past_its_timeout_is_killed(front, tmp_path):
    jobs = {"hang": {"component": command("hang", "sleep 60", limits={"timeout": 1})}}
    name = front.create_job(job_file(tmp_path, pipeline(jobs)))
    shown = front.wait(name)
    assert shown["status"] == "Failed"
    step = front.service.show_job(f"{name}-hang")
    assert "ran past its timeout (1 s, limits.timeout) and was killed" in step["error"]["message"]


def test_cancel_kills_the_running_step(home, tmp_path):
    service = BatchService(home=home)
    pid_file = tmp_path / "step.pid"
    jobs = {"hang": {"component": command("hang", f"echo $$ > {pid_file}; exec sleep 60")}}
    name = service.create_job(str(job_file(tmp_path, pipeline(jobs))))["name"]
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 60,
                       "the step to start"))
    assert pid_alive(pid)
    code, _, err = run_cli("ml", "job", "cancel", "-n", name, env={"BATCH_EMULATOR_HOME": str(home)})
    assert code == 0, err
    service.wait_job(name, timeout=60)
    assert service.show_job(name)["status"] == "Canceled"
    assert service.show_job(f"{name}-hang")["status"] == "Canceled"
    wait_for(lambda: process_gone(pid), 10, "the step's process to be killed")


def test_a_pipeline_deployment_is_invoked_with_named_inputs(front, tmp_path):
    component = pipeline(
        inputs={"data": {"type": "uri_folder"}, "suffix": {"type": "string", "default": "!"},
                "times": {"type": "integer"}},
        outputs={"result": {"type": "uri_folder"}},
        jobs={"echo": {"component": command(
            "echo_it", "for i in $(seq ${{inputs.times}}); do ls ${{inputs.data}}; done | "
                       "sed 's/$/${{inputs.suffix}}/' > ${{outputs.out}}/listing.txt",
            {"data": {"type": "uri_folder"}, "suffix": {"type": "string"},
             "times": {"type": "integer"}}),
            "inputs": {"data": "${{parent.inputs.data}}", "suffix": "${{parent.inputs.suffix}}",
                       "times": "${{parent.inputs.times}}"},
            "outputs": {"out": "${{parent.outputs.result}}"}}})
    write(tmp_path, "pipeline.yml", component)
    deployment = write(tmp_path, "deployment.yml", {
        "name": "echo-dpl", "endpoint_name": "echo-ep", "type": "pipeline",
        "component": "./pipeline.yml", "settings": {"default_compute": "cluster"}})
    data = tmp_path / "data"
    data.mkdir()
    (data / "one.csv").write_text("x\n")
    inputs = write(tmp_path, "inputs.yml", {"inputs": {
        "data": {"type": "uri_folder", "path": "data"}, "times": {"type": "integer", "value": 2}}})
    env = {"BATCH_EMULATOR_HOME": str(front.home)}
    if front.name == "python":
        front.service.create_endpoint(name="echo-ep")
        front.service.create_deployment(str(deployment), set_default=True)
        name = front.service.invoke("echo-ep", inputs_file=str(inputs))["name"]
    else:
        assert run_cli("ml", "batch-endpoint", "create", "-n", "echo-ep", env=env)[0] == 0
        code, out, err = run_cli("ml", "batch-deployment", "create", "-f", str(deployment),
                                 "--set-default", "--query", "type", "-o", "tsv", env=env)
        assert (code, out) == (0, "pipeline\n"), err
        code, out, err = run_cli("ml", "batch-endpoint", "invoke", "-n", "echo-ep", "--f",
                                 str(inputs), "--query", "name", "-o", "tsv", env=env)
        assert code == 0, err
        name = out.strip()
    shown = front.wait(name)
    assert shown["status"] == "Completed", shown.get("error")
    listing = Path(shown["outputs"]["result"]["path"]) / "listing.txt"
    assert listing.read_text() == "one.csv!\none.csv!\n"  # the default suffix, times=2
    assert shown["inputs"]["times"] == {"type": "literal", "value": 2}
    # a literal through --set; a required input missing is refused by name
    again = front.service.invoke("echo-ep", inputs_file=str(inputs),
                                 set_values=["inputs.suffix.value=+"])["name"]
    assert front.wait(again)["status"] == "Completed"
    assert (Path(front.service.show_job(again)["outputs"]["result"]["path"]) /
            "listing.txt").read_text() == "one.csv+\none.csv+\n"
    message = front.refused(
        lambda svc: svc.invoke("echo-ep", set_values=[f"inputs.data.path={data}"]),
        "ml", "batch-endpoint", "invoke", "-n", "echo-ep", "--set", f"inputs.data.path={data}")
    assert "the required input 'times' (integer) is not given" in message
    message = front.refused(
        lambda svc: svc.invoke("echo-ep", inputs_file=str(inputs),
                               set_values=["inputs.times.value=many"]),
        "ml", "batch-endpoint", "invoke", "-n", "echo-ep", "--file", str(inputs), "--set",
        "inputs.times.value=many")
    assert "input 'times' must be an integer, not 'many'" in message


def test_a_deployment_made_from_a_finished_pipeline_job(home, tmp_path):
    service = BatchService(home=home)
    jobs = {"hi": {"component": command("hi", "echo hi ${{inputs.who}} > ${{outputs.out}}/x",
                                        {"who": {"type": "string", "default": "there"}}),
                   "outputs": {"out": "${{parent.outputs.greeting}}"}}}
    name = service.create_job(str(job_file(tmp_path, pipeline(
        jobs, outputs={"greeting": {"type": "uri_folder"}}))))["name"]
    service.wait_job(name, timeout=120)
    service.create_endpoint(name="from-job-ep")
    deployment = write(tmp_path, "from-job.yml", {
        "name": "from-job-dpl", "endpoint_name": "from-job-ep", "type": "pipeline",
        "job_definition": f"azureml:{name}", "settings": {"default_compute": "cluster"}})
    shown = service.create_deployment(str(deployment), set_default=True)
    assert shown["component"] == service.show_job(name)["component"]
    invoked = service.invoke("from-job-ep")["name"]
    service.wait_job(invoked, timeout=120)
    result = service.show_job(invoked)
    assert result["status"] == "Completed"
    assert (Path(result["outputs"]["greeting"]["path"]) / "x").read_text() == "hi there\n"


BAD_PIPELINES = {
    "cycle": (pipeline({
        "a": {"component": command("a", "ls ${{inputs.x}}", {"x": {"type": "uri_folder"}}),
              "inputs": {"x": "${{parent.jobs.b.outputs.out}}"}},
        "b": {"component": command("b", "ls ${{inputs.x}}", {"x": {"type": "uri_folder"}}),
              "inputs": {"x": "${{parent.jobs.a.outputs.out}}"}}}),
        "$.jobs: the steps a -> b -> a form a cycle"),
    "unknown step": (pipeline({
        "a": {"component": command("a", "ls ${{inputs.x}}", {"x": {"type": "uri_folder"}}),
              "inputs": {"x": "${{parent.jobs.nope.outputs.out}}"}}}),
        "$.jobs.a.inputs.x: ${{parent.jobs.nope.outputs.out}} names no step 'nope'"),
    "unknown output": (pipeline({
        "a": {"component": command("a", "true")},
        "b": {"component": command("b", "ls ${{inputs.x}}", {"x": {"type": "uri_folder"}}),
              "inputs": {"x": "${{parent.jobs.a.outputs.missing}}"}}}),
        "step 'a' has no output 'missing' (outputs: out)"),
    "unknown placeholder": (pipeline({
        "a": {"component": command("a", "echo ${{inputs.nope}}")}}),
        "${{inputs.nope}} names no declared input of component 'a'"),
    "sweep step": (pipeline({"a": {"type": "sweep", "component": command("a", "true")}}),
                   "$.jobs.a.type: sweep jobs (hyperparameter tuning) are not supported"),
    "another registry": (pipeline({"a": {"component": command(
        "a", "true", environment="azureml://registries/contoso/environments/x/labels/latest")}}),
        "environments from registries other than Azure's curated 'azureml' are not supported"),
    "registry component": (pipeline({"a": {
        "component": "azureml://registries/azureml/components/x/labels/latest"}}),
        "$.jobs.a.component: components from registries are not supported"),
}


@pytest.mark.parametrize("case", BAD_PIPELINES, ids=list(BAD_PIPELINES))
def test_a_pipeline_that_cannot_run_is_refused_by_field(front, tmp_path, case):
    component, expected = BAD_PIPELINES[case]
    path = job_file(tmp_path, component)
    message = front.refused(lambda svc: svc.create_job(str(path)), "ml", "job", "create",
                            "-f", str(path))
    assert expected in message
    assert front.service.list_jobs() == [] and front.service.list_components() == []
    message = front.refused(lambda svc: svc.create_component(str(tmp_path / "pipeline.yml")),
                            "ml", "component", "create", "-f", str(tmp_path / "pipeline.yml"))
    assert expected in message
    assert front.service.list_components() == []


@pytest.mark.parametrize(("given", "expected"), [
    ({}, "the required input 'count' (integer) is not given"),
    ({"count": "many"}, "input 'count' must be an integer, not 'many'"),
    ({"count": 2, "extra": 1}, "no input named 'extra' (inputs: count)"),
], ids=["missing", "wrong type", "unknown"])
def test_a_pipeline_jobs_inputs_are_checked(front, tmp_path, given, expected):
    component = pipeline(inputs={"count": {"type": "integer"}}, jobs={
        "a": {"component": command("a", "seq ${{inputs.n}}", {"n": {"type": "integer"}}),
              "inputs": {"n": "${{parent.inputs.count}}"}}})
    path = job_file(tmp_path, component, given)
    message = front.refused(lambda svc: svc.create_job(str(path)), "ml", "job", "create",
                            "-f", str(path))
    assert expected in message
    assert front.service.list_jobs() == [] and front.service.list_components() == []


def test_components_are_versions_shown_listed_and_archived(home):
    env = {"BATCH_EMULATOR_HOME": str(home)}
    example = Path(__file__).resolve().parents[2] / "examples" / "pipeline"
    code, out, err = run_cli("ml", "component", "create", "-f", str(example / "pipeline.yml"),
                             env=env)
    assert code == 0, err
    created = json.loads(out)
    assert (created["type"], created["version"]) == ("pipeline", "1")
    assert created["jobs"]["prep"]["component"] == "azureml:heart_prep:1"
    again = run_cli("ml", "component", "create", "-f", str(example / "pipeline.yml"), env=env)
    assert json.loads(again[1])["version"] == "1"  # the same definition again is that version
    names = run_cli("ml", "component", "list", "--query", "[].name", "-o", "tsv", env=env)[1]
    assert names.split() == ["heart_batch_scoring", "heart_prep", "heart_score"]
    prep = json.loads(run_cli("ml", "component", "show", "-n", "heart_prep", env=env)[1])
    assert Path(prep["code"], "prep.py").is_file()  # the code was copied in
    assert prep["environment"] == "azureml:heart_prep-env:1"
    assert run_cli("ml", "component", "archive", "-n", "heart_prep", env=env)[0] == 0
    names = run_cli("ml", "component", "list", "--query", "[].name", "-o", "tsv", env=env)[1]
    assert "heart_prep" not in names.split()
    code, _, err = run_cli("ml", "component", "show", "-n", "nope", env=env)
    assert code == 3 and "component 'nope' is not registered" in err


def test_a_curated_environment_runs_in_the_jobs_own_with_a_notice(front, tmp_path):
    curated = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
    jobs = {"a": {"component": command("a", "python -c 'print(1)'", environment=curated)}}
    name = front.create_job(job_file(tmp_path, pipeline(jobs)))
    shown = front.wait(name)
    assert shown["status"] == "Completed"
    assert shown["notices"] == [f"step a: {curated} is an environment of Azure's registry; the "
                                "step runs in the job's own environment"]


def test_other_job_types_are_refused_by_their_type(front, tmp_path):
    path = write(tmp_path, "command-job.yml", {"type": "command", "command": "echo hi"})
    message = front.refused(lambda svc: svc.create_job(str(path)), "ml", "job", "create",
                            "-f", str(path))
    assert "$.type: command jobs are not supported by the emulator" in message


SCORE_WITH_ARGUMENTS = '''\
import argparse
import os


def init():
    global suffix
    parser = argparse.ArgumentParser()
    parser.add_argument("--suffix", required=True)
    suffix = parser.parse_known_args()[0].suffix  # program_arguments, as Azure passes them


def run(mini_batch):
    return [os.path.basename(path) + suffix for path in mini_batch]
'''


def test_a_parallel_step_scores_mini_batches_of_an_earlier_steps_output(front, tmp_path):
    code = tmp_path / "src"
    code.mkdir()
    (code / "score.py").write_text(SCORE_WITH_ARGUMENTS)
    parallel = {
        "name": "score_files", "type": "parallel",
        "inputs": {"files": {"type": "uri_folder"}, "suffix": {"type": "string"}},
        "outputs": {"scores": {"type": "uri_folder"}},
        "input_data": "${{inputs.files}}", "mini_batch_size": "2",
        "resources": {"instance_count": 2}, "max_concurrency_per_instance": 1,
        "retry_settings": {"max_retries": 1, "timeout": 30}, "logging_level": "INFO",
        "task": {"type": "run_function", "code": str(code), "entry_script": "score.py",
                 "program_arguments": "--suffix ${{inputs.suffix}}",
                 "append_row_to": "${{outputs.scores}}"}}
    jobs = {
        "make": {"component": command("make", "for i in 1 2 3 4 5 6; do touch "
                                              "${{outputs.out}}/file$i.txt; done")},
        "score": {"type": "parallel", "component": parallel,
                  "inputs": {"files": "${{parent.jobs.make.outputs.out}}", "suffix": "_seen"},
                  "outputs": {"scores": "${{parent.outputs.scores}}"}}}
    name = front.create_job(job_file(tmp_path, pipeline(
        jobs, outputs={"scores": {"type": "uri_folder"}})))
    shown = front.wait(name)
    assert shown["status"] == "Completed", shown.get("error")
    rows = (Path(shown["outputs"]["scores"]["path"]) / "parallel_run_step.txt").read_text()
    assert sorted(rows.split()) == [f"file{i}.txt_seen" for i in range(1, 7)]
    step = front.service.job_record(f"{name}-score")
    assert (step.mini_batches_total, step.files_succeeded, step.status) == (3, 6, "Completed")
    assert front.service.show_job(f"{name}-score")["type"] == "parallel"
