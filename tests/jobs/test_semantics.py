"""SPEC §6 end to end: real Dask workers, real scoring processes, real files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from emulator.exceptions import InputError, OutputExistsError, ScoringScriptError, ValidationError
from emulator.jobs.record import JobRecord
from emulator.scoring.bootstrap import NO_SUCCEEDED_ITEM
from tests.helpers import pid_alive, trace_lines, wait_for


def report_rows(job: JobRecord) -> list[dict[str, str]]:
    path = Path(job.job_folder) / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    with open(path, newline="") as file:
        return sorted(csv.DictReader(file), key=lambda row: int(row["Mini-batch Id"]))


def runs_of(trace_dir: Path, file_name: str) -> int:
    return sum(file_name in row[1:] for row in trace_lines(trace_dir, "runs.txt"))


def assert_each_process_initialised_once(trace_dir: Path) -> None:
    """Every process that ran a mini-batch called init() first, exactly once."""
    init_pids = [row[0] for row in trace_lines(trace_dir, "inits.txt")]
    run_pids = {row[0] for row in trace_lines(trace_dir, "runs.txt")}
    assert len(init_pids) == len(set(init_pids))
    assert run_pids <= set(init_pids)


# ----------------------------------------------------------------------------- success paths


def test_list_return_writes_exact_bytes(make_deployment, make_inputs, run_job):
    inputs = make_inputs(5)
    job = run_job(make_deployment("succeed_list.py", mini_batch_size=2), inputs)

    assert job.status == "Completed", job.error
    assert job.statuses == ["NotStarted", "Queued", "Preparing", "Running", "Finalizing",
                            "Completed"]
    assert (job.files_total, job.files_succeeded, job.files_failed) == (5, 5, 0)
    assert job.mini_batches_total == 3
    lines = Path(job.output_file).read_bytes().decode().splitlines(keepends=True)
    # mini-batches appear in completion order; rows of one mini-batch stay together in order
    assert sorted(lines) == [f"f00{i}.txt: 20\n" for i in range(5)]
    for pair in (["f000.txt: 20\n", "f001.txt: 20\n"], ["f002.txt: 20\n", "f003.txt: 20\n"]):
        start = lines.index(pair[0])
        assert lines[start:start + 2] == pair


def test_dataframe_return_is_space_separated_without_header_or_index(
        make_deployment, make_inputs, run_job):
    inputs = make_inputs(2)
    job = run_job(make_deployment("succeed_dataframe.py", mini_batch_size=2), inputs)

    assert job.status == "Completed", job.error
    assert Path(job.output_file).read_bytes() == (
        b'f000.txt 20 "class A" 0.5\n'
        b'f001.txt 20 "say ""hi""" 1.5\n'
    )


def test_numpy_array_and_generator_count_one_success_per_element(
        make_deployment, make_inputs, run_job):
    inputs = make_inputs(3)
    array_job = run_job(make_deployment("numpy_array.py", mini_batch_size=3), inputs)
    generator_job = run_job(make_deployment("generator.py", mini_batch_size=3), inputs,
                            output_path=inputs.parent / "generator-out")

    assert array_job.files_succeeded == 3
    assert Path(array_job.output_file).read_text() == "20\n20\n20\n"
    assert generator_job.files_succeeded == 3
    assert Path(generator_job.output_file).read_text() == (
        "f000.txt done\nf001.txt done\nf002.txt done\n")


def test_mini_batches_follow_sorted_relative_paths_and_skip_hidden_files(
        tmp_path, make_deployment, run_job, trace_dir):
    inputs = tmp_path / "tree"
    for relative in ["b/2.txt", "a.txt", "b/1.txt", ".hidden.txt", ".cache/x.txt", "c.txt"]:
        (inputs / relative).parent.mkdir(parents=True, exist_ok=True)
        (inputs / relative).write_text("x")
    job = run_job(make_deployment("succeed_list.py", mini_batch_size=2), inputs)

    assert job.files_total == 4
    batches = sorted(row[1:] for row in trace_lines(trace_dir, "runs.txt"))
    assert batches == [["2.txt", "c.txt"], ["a.txt", "1.txt"]]  # a.txt, b/1, b/2, c.txt
    first_files = {row["Mini-batch Id"]: Path(row["First File"]).name for row in report_rows(job)}
    assert first_files == {"0": "a.txt", "1": "2.txt"}


def test_single_file_input_is_one_mini_batch(make_deployment, make_inputs, run_job):
    inputs = make_inputs(3)
    job = run_job(make_deployment("succeed_list.py"), inputs / "f001.txt")
    assert (job.status, job.files_total, job.mini_batches_total) == ("Completed", 1, 1)
    assert Path(job.output_file).read_text() == "f001.txt: 20\n"


def test_scoring_process_environment(make_deployment, make_inputs, run_job):
    inputs = make_inputs(1)
    job = run_job(make_deployment("inspect_env.py", env={"GREETING": "hallo"}), inputs)
    assert job.status == "Completed", job.error
    import json

    seen = json.loads(Path(job.output_file).read_text())
    assert seen["model_files"] == ["model"]  # the model keeps its base name
    assert Path(seen["model_dir"], "model", "weights.txt").is_file()
    assert seen["output_path"] == job.output_folder
    assert seen["output_exists_at_init"] is True
    assert seen["entry_output_dir"] == job.output_folder
    assert seen["greeting"] == "hallo"
    assert seen["cwd"] == job.job_folder
    assert seen["sys_path_0"].endswith("fixtures/scoring")
    assert seen["agent_name"] == "process000"
    assert seen["argv"] == ["--logging_level", "INFO"]
    assert seen["emulator_internals_importable"] is False
    logs = Path(job.job_folder) / "logs" / "user"
    assert "hello from init" in (logs / "stdout" / "instance-0" / "process000.stdout.txt").read_text()
    entry_log = logs / "entry_script_log" / "instance-0" / "process000.log.txt"
    assert "init from process000" in entry_log.read_text()


def test_init_runs_once_per_process(make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(20)
    job = run_job(make_deployment("succeed_list.py", mini_batch_size=1,
                                  max_concurrency_per_instance=2), inputs)
    assert job.status == "Completed", job.error
    init_pids = [row[0] for row in trace_lines(trace_dir, "inits.txt")]
    run_pids = {row[0] for row in trace_lines(trace_dir, "runs.txt")}
    assert len(init_pids) == len(set(init_pids)) <= 2
    assert run_pids <= set(init_pids)
    assert len(trace_lines(trace_dir, "runs.txt")) == 20


def test_summary_only_writes_no_results_file(make_deployment, make_inputs, run_job):
    inputs = make_inputs(3)
    job = run_job(make_deployment("writes_output.py", output_action="summary_only"), inputs)
    assert job.status == "Completed", job.error
    assert job.output_file is None
    assert sorted(os.listdir(job.output_folder)) == ["f000.out", "f001.out", "f002.out"]


# ----------------------------------------------------------------------------- accounting


def test_short_return_counts_the_shortfall_as_failed_without_retrying(
        make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(4)
    job = run_job(make_deployment("short_return.py", mini_batch_size=2), inputs)

    assert job.status == "Completed"
    assert (job.files_succeeded, job.files_failed) == (2, 2)
    assert len(trace_lines(trace_dir, "runs.txt")) == 2  # a short return is not retried
    assert {row["Status"] for row in report_rows(job)} == {"RUN_DONE"}
    assert [row["Failed"] for row in report_rows(job)] == ["1", "1"]
    # the first item of each mini-batch, mini-batches in completion order
    assert sorted(Path(job.output_file).read_text().splitlines()) == ["f000.txt", "f002.txt"]


def test_none_return_fails_every_file_with_azures_message(make_deployment, make_inputs, run_job):
    inputs = make_inputs(2)
    job = run_job(make_deployment("short_return.py", env={"SHORT_MODE": "none"}), inputs)
    assert job.status == "Completed"  # error_threshold -1 tolerates any failure
    assert (job.files_succeeded, job.files_failed) == (0, 2)
    assert job.failed_mini_batches[0].error == NO_SUCCEEDED_ITEM
    assert Path(job.output_file).read_bytes() == b""  # a Completed job with no rows: empty file


# ----------------------------------------------------------------------------- failures


def test_raising_mini_batch_is_retried_max_retries_times_then_fails_its_files(
        make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(6)
    job = run_job(make_deployment("raise_on_file.py", env={"FAIL_ON": "f003"}, max_retries=2),
                  inputs)

    assert job.status == "Completed"  # error_threshold -1
    assert runs_of(trace_dir, "f003.txt") == 3  # the first attempt + max_retries=2
    assert runs_of(trace_dir, "f000.txt") == 1
    assert (job.files_succeeded, job.files_failed) == (4, 2)
    [failed] = job.failed_mini_batches
    assert [Path(f).name for f in failed.files] == ["f002.txt", "f003.txt"]
    assert (failed.attempts, failed.status) == (3, "RUN_EXCEPTION")
    assert failed.error == "ValueError: cannot score f003.txt"
    # the user's own traceback, without the emulator's frames
    assert 'raise_on_file.py", line' in failed.traceback
    assert "bootstrap.py" not in failed.traceback
    rows = {row["Mini-batch Id"]: row for row in report_rows(job)}
    assert (rows["1"]["Attempts"], rows["1"]["Status"], rows["1"]["Failed"]) == (
        "3", "RUN_EXCEPTION", "2")
    error_logs = list((Path(job.job_folder) / "logs/user/error").rglob("process*.txt"))
    assert "ValueError: cannot score f003.txt" in "".join(p.read_text() for p in error_logs)
    assert sorted(Path(job.output_file).read_text().splitlines()) == [
        "f000.txt", "f001.txt", "f004.txt", "f005.txt"]


def test_flaky_mini_batch_succeeds_on_a_retry(make_deployment, make_inputs, run_job):
    inputs = make_inputs(2)
    job = run_job(make_deployment("flaky.py", env={"FLAKY_FAILURES": "2"}, max_retries=2), inputs)
    assert (job.status, job.files_succeeded, job.files_failed) == ("Completed", 2, 0)
    [row] = report_rows(job)
    assert (row["Attempts"], row["Status"]) == ("3", "RUN_DONE")


def test_max_retries_zero_means_a_single_attempt(make_deployment, make_inputs, run_job,
                                                 trace_dir):
    inputs = make_inputs(2)
    job = run_job(make_deployment("raise_on_file.py", env={"FAIL_ON": "f0"}, max_retries=0),
                  inputs)
    assert runs_of(trace_dir, "f000.txt") == 1
    assert job.files_failed == 2


def test_error_threshold_zero_fails_the_job_and_stops_pending_work(
        make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(40)
    job = run_job(make_deployment("raise_on_file.py", env={"FAIL_ON": "f000"}, max_retries=0,
                                  error_threshold=0, mini_batch_size=1), inputs)

    assert job.status == "Failed"
    assert "more than error_threshold=0" in job.error
    assert "mini-batch 0" in job.error
    assert len(trace_lines(trace_dir, "runs.txt")) < 40  # aborted early
    assert job.output_file is None
    assert not any(Path(job.output_folder).iterdir())  # no results file, no partial file


def test_error_threshold_counts_files_not_mini_batches(make_deployment, make_inputs, run_job):
    inputs = make_inputs(6)
    tolerated = run_job(make_deployment("raise_on_file.py", env={"FAIL_ON": "f001"},
                                        max_retries=0, error_threshold=2), inputs)
    exceeded = run_job(make_deployment("raise_on_file.py", env={"FAIL_ON": "f001"},
                                       max_retries=0, error_threshold=1), inputs,
                       output_path=inputs.parent / "second")
    assert (tolerated.status, tolerated.files_failed) == ("Completed", 2)
    assert exceeded.status == "Failed"


@pytest.mark.slow
def test_hung_run_is_killed_at_the_timeout_and_its_process_replaced(
        make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(4)
    job = run_job(make_deployment("hang.py", env={"HANG_ON": "f000"}, timeout=2, max_retries=1),
                  inputs)

    assert job.status == "Completed"
    rows = {row["Mini-batch Id"]: row for row in report_rows(job)}
    assert (rows["0"]["Status"], rows["0"]["Attempts"], rows["0"]["Failed"]) == (
        "RUN_TIMEOUT", "2", "2")
    assert 2.0 <= float(rows["0"]["Elapsed Seconds"]) < 5.0  # generous; see benchmarks/timeouts.py
    assert rows["1"]["Status"] == "RUN_DONE"
    hung_pids = [int(row[0]) for row in trace_lines(trace_dir, "runs.txt") if "f000.txt" in row]
    assert len(set(hung_pids)) == 2  # the retry ran in a new process
    assert not any(pid_alive(pid) for pid in hung_pids)  # killed, not abandoned
    assert_each_process_initialised_once(trace_dir)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exit", "signal"])
def test_crashed_process_costs_one_attempt_and_is_replaced(
        mode, make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(4)
    job = run_job(make_deployment("crash.py", env={"CRASH_ON": "f002", "CRASH_MODE": mode},
                                  max_retries=1), inputs)

    assert job.status == "Completed"
    assert runs_of(trace_dir, "f002.txt") == 2
    [failed] = job.failed_mini_batches
    assert (failed.id, failed.status, failed.attempts) == (1, "PROCESS_CRASHED", 2)
    expected = "exited with code 3" if mode == "exit" else "killed by signal SIGKILL"
    assert expected in failed.error
    crashed_pids = [row[0] for row in trace_lines(trace_dir, "runs.txt") if "f002.txt" in row]
    assert len(set(crashed_pids)) == 2
    assert_each_process_initialised_once(trace_dir)
    assert job.files_succeeded == 2


def test_init_failure_fails_the_job_with_the_users_traceback(
        make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(2)
    job = run_job(make_deployment("init_fails.py"), inputs)

    assert job.status == "Failed"
    assert job.error.startswith("init() failed in every scoring process (FileNotFoundError: "
                                "model.pkl not found in AZUREML_MODEL_DIR)")
    assert 'init_fails.py", line' in job.error_detail
    assert "load_model()" in job.error_detail
    assert "bootstrap.py" not in job.error_detail
    assert len(trace_lines(trace_dir, "inits.txt")) == 3  # three tries for the one slot
    assert (Path(job.job_folder) / "logs" / "job_error.txt").read_text().startswith("init()")
    assert job.output_file is None and not any(Path(job.output_folder).iterdir())


@pytest.mark.slow
def test_cancel_kills_running_scoring_processes_and_leaves_no_results(
        make_deployment, make_inputs, start_job, trace_dir):
    inputs = make_inputs(6)
    job = start_job(make_deployment("hang.py", env={"HANG_ON": "f004"}), inputs)
    wait_for(lambda: runs_of(trace_dir, "f004.txt"), what="the hanging run() to start")

    job.cancel()
    record = job.wait(30)

    assert record.statuses[-1] == "Canceled"
    [hung_pid] = [int(r[0]) for r in trace_lines(trace_dir, "runs.txt") if "f004.txt" in r]
    wait_for(lambda: not pid_alive(hung_pid), timeout=10, what="the scoring process to die")
    assert record.output_file is None
    assert not any(Path(record.output_folder).iterdir())


def test_cancel_request_file_stops_a_job_from_another_process(
        make_deployment, make_inputs, start_job, trace_dir):
    from emulator.jobs.launch import request_cancel

    inputs = make_inputs(2)
    job = start_job(make_deployment("hang.py"), inputs)
    wait_for(lambda: trace_lines(trace_dir, "runs.txt"), what="run() to start")
    request_cancel(job.record.job_folder)
    assert job.wait(30).status == "Canceled"
    assert JobRecord.load(job.record.job_folder).status == "Canceled"


# ----------------------------------------------------------------------------- output uniqueness


def test_second_job_to_the_same_output_is_refused_and_first_output_untouched(
        make_deployment, make_inputs, run_job, tmp_path):
    inputs = make_inputs(3)
    output = tmp_path / "shared-output"
    first = run_job(make_deployment("succeed_list.py"), inputs, output_path=output)
    before = Path(first.output_file).read_bytes()

    with pytest.raises(OutputExistsError, match="already exists"):
        run_job(make_deployment("succeed_dataframe.py"), inputs, output_path=output)
    assert Path(first.output_file).read_bytes() == before

    other_name = run_job(make_deployment("succeed_list.py"), inputs, output_path=output,
                         overrides={"output_file_name": "second.csv"})
    assert other_name.status == "Completed"
    assert sorted(os.listdir(output)) == ["predictions.csv", "second.csv"]


def test_summary_only_refuses_a_non_empty_output_folder(make_deployment, make_inputs, run_job,
                                                        tmp_path):
    inputs = make_inputs(1)
    output = tmp_path / "used"
    output.mkdir()
    (output / "old.parquet").write_text("x")
    with pytest.raises(OutputExistsError, match="not empty"):
        run_job(make_deployment("writes_output.py", output_action="summary_only"), inputs,
                output_path=output)


def test_default_output_goes_to_the_workspace_blob_datastore(make_deployment, make_inputs,
                                                             run_job, home):
    job = run_job(make_deployment("succeed_list.py"), make_inputs(1))
    assert job.output_uri == f"azureml://datastores/workspaceblobstore/paths/azureml/{job.name}/score/"
    assert Path(job.output_file) == (home / "default" / "datastores" / "workspaceblobstore" /
                                     "azureml" / job.name / "score" / "predictions.csv")
    assert Path(job.job_folder) == home / "default" / "jobs" / job.name


# ----------------------------------------------------------------------------- overrides


def test_invoke_overrides_change_the_job(make_deployment, make_inputs, run_job, trace_dir):
    inputs = make_inputs(6)
    job = run_job(make_deployment("raise_on_file.py", env={"FAIL_ON": "f005"}), inputs,
                  mini_batch_size=3, overrides={"retry_settings.max_retries": 0,
                                                "error_threshold": "5"})
    assert job.mini_batches_total == 2
    assert runs_of(trace_dir, "f005.txt") == 1
    assert job.settings["error_threshold"] == 5
    assert job.status == "Completed"


def test_invalid_override_is_refused(make_deployment, make_inputs, run_job):
    inputs = make_inputs(1)
    with pytest.raises(ValidationError, match="mini_batch_size"):
        run_job(make_deployment("succeed_list.py"), inputs, mini_batch_size=0)
    with pytest.raises(ValidationError, match="unknown key"):
        run_job(make_deployment("succeed_list.py"), inputs, overrides={"colour": "red"})


# ----------------------------------------------------------------------------- bad input


def test_missing_scoring_script_is_refused(make_deployment, make_inputs, run_job):
    with pytest.raises(ScoringScriptError, match="scoring script missing.py not found"):
        run_job(make_deployment("missing.py"), make_inputs(1))


def test_syntax_error_in_scoring_script_is_refused(make_deployment, make_inputs, run_job):
    with pytest.raises(ScoringScriptError, match=r"syntax errors in scoring script .* line 1"):
        run_job(make_deployment("syntax_error.py.txt"), make_inputs(1))


def test_run_that_is_not_callable_fails_the_job_clearly(make_deployment, make_inputs, run_job):
    job = run_job(make_deployment("no_run.py"), make_inputs(2))
    assert job.status == "Failed"
    assert job.error == "scoring script no_run.py has no callable run(mini_batch); define it at " \
                        "module level"
    assert not any(Path(job.output_folder).iterdir())


@pytest.mark.parametrize("case", ["missing", "empty", "only-hidden"])
def test_bad_input_folder_is_refused(case, make_deployment, run_job, tmp_path):
    folder = tmp_path / "in"
    if case != "missing":
        folder.mkdir()
    if case == "only-hidden":
        (folder / ".DS_Store").write_text("x")
    with pytest.raises(InputError, match=str(folder)):
        run_job(make_deployment("succeed_list.py"), folder)
    assert not (Path(tmp_path / "home" / "default" / "jobs")).exists()


def test_unreadable_input_file_is_refused_before_a_job_exists(make_deployment, make_inputs,
                                                              run_job, home):
    inputs = make_inputs(2)
    (inputs / "broken.txt").symlink_to(inputs / "gone.txt")
    with pytest.raises(InputError, match=r"broken.txt cannot be read"):
        run_job(make_deployment("succeed_list.py"), inputs)
    (inputs / "broken.txt").unlink()
    (inputs / "loop-a").symlink_to(inputs / "loop-b")
    (inputs / "loop-b").symlink_to(inputs / "loop-a")
    with pytest.raises(InputError, match=r"loop-[ab] cannot be read"):
        run_job(make_deployment("succeed_list.py"), inputs)
    assert not (home / "default" / "jobs").exists() or \
        sorted((home / "default" / "jobs").iterdir()) == []


def test_duplicate_job_name_is_refused(make_deployment, make_inputs, run_job):
    inputs = make_inputs(1)
    run_job(make_deployment("succeed_list.py"), inputs, job_name="my-job")
    with pytest.raises(ValidationError, match="job named 'my-job' already exists"):
        run_job(make_deployment("succeed_list.py"), inputs, job_name="my-job")


# ----------------------------------------------------------------------------- logs


def test_logs_follow_azures_layout(make_deployment, make_inputs, run_job):
    job = run_job(make_deployment("raise_on_file.py", env={"FAIL_ON": "f001"}, max_retries=0),
                  make_inputs(4))
    logs = Path(job.job_folder) / "logs"
    for relative in ["job_progress_overview.txt", "job_result.txt", "readme.txt",
                     "sys/job_report/processed_mini-batches.csv", "sys/master_role.txt",
                     "user/error/instance-0/process000.txt",
                     "user/stdout/instance-0/process000.stdout.txt",
                     "user/stderr/instance-0/process000.stderr.txt"]:
        assert (logs / relative).is_file(), relative
    assert (logs / "job_result.txt").read_text().startswith("Completed: 2 of 4 file(s) succeeded")
    overview = (logs / "job_progress_overview.txt").read_text()
    assert "4 input files in 2 mini-batches" in overview
    assert list(report_rows(job)[0]) == [
        "Mini-batch Id", "Attempts", "Instance", "Process", "Start Time", "Elapsed Seconds",
        "Total", "Succeeded", "Failed", "Status", "Error Message", "First File"]
    assert JobRecord.load(job.job_folder).to_dict() == job.to_dict()


@pytest.mark.slow
def test_instance_count_starts_that_many_workers_on_a_local_cluster(
        make_deployment, make_inputs, home):
    from emulator import run_batch_job

    inputs = make_inputs(8)
    job = run_batch_job(make_deployment("succeed_list.py", instance_count=2, mini_batch_size=1),
                        inputs, home=home, timeout=120)
    assert job.status == "Completed", job.error
    instances = {row["Instance"] for row in report_rows(job)}
    assert instances == {"instance-0", "instance-1"}


@pytest.mark.parametrize("layout", ["current.yml", "flat.yml"])
def test_fixture_deployments_in_both_layouts_score_the_fixture_data(layout, run_job, home):
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    job = run_job(fixtures / "deployments" / layout, fixtures / "data" / "numbers")
    assert job.status == "Completed", job.error
    assert (job.files_total, job.mini_batches_total) == (8, 3)  # hidden files skipped
    assert sorted(Path(job.output_file).read_text().splitlines()) == [
        *(f"file-{i}.txt: {i + 1}" for i in range(7)), "zz.txt: 7"]
