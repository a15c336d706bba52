"""The pytest plugin, as a user meets it: a sample repository's suite run by pytester."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def user_repo(pytester: pytest.Pytester) -> Path:
    """A copy of fixtures/user-repo (score.py, deployment.yml, data, tests) as pytester's dir."""
    shutil.copytree(FIXTURES / "user-repo", pytester.path, dirs_exist_ok=True)
    return pytester.path


def use_variant(repo: Path, variant: str) -> None:
    shutil.copy(FIXTURES / "user-repo-variants" / variant, repo / "score.py")


@pytest.mark.slow
def test_the_sample_repositorys_tests_pass(pytester, user_repo):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


@pytest.mark.slow
def test_in_process_mode_runs_what_it_can_and_says_what_it_cannot(pytester, user_repo):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs",
                                           "--batch-emulator-cluster=inprocess")
    result.assert_outcomes(passed=5, skipped=1)
    result.stdout.fnmatch_lines(["*needs real scoring processes*cannot kill a hung run()*"])


@pytest.mark.slow
def test_too_few_rows_fail_with_a_report_naming_the_mini_batch_and_missing_rows(pytester,
                                                                               user_repo):
    use_variant(user_repo, "score_short.py")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "tests/test_scoring.py::test_every_file_is_scored")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*BatchJobError: batch job batchjob-* Completed: 2 of 5 file(s) succeeded, 3 failed",
        "*mini-batch 0 [[]clinic-a.csv, clinic-b.csv[]]: RUN_DONE after 1 attempt(s): run() "
        "returned 1 item(s) for 2 file(s); 1 row(s) missing, counted as failed files",
        "*mini-batch 2 [[]clinic-e.csv[]]: *0 item(s) for 1 file(s); 1 row(s) missing*",
    ])
    assert "emulator/testing.py" not in result.stdout.str()  # our frames are hidden


@pytest.mark.slow
def test_a_hanging_run_fails_with_a_report_naming_the_timeout(pytester, user_repo):
    use_variant(user_repo, "score_hang.py")
    deployment = user_repo / "deployment.yml"
    deployment.write_text(deployment.read_text().replace("max_retries: 2", "max_retries: 0")
                          .replace("timeout: 3", "timeout: 1"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "tests/test_scoring.py::test_every_file_is_scored")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*mini-batch 0 [[]clinic-a.csv, clinic-b.csv[]]: RUN_TIMEOUT after 1 attempt(s); limit "
        "hit: timeout (retry_settings.timeout=1 s) and retries (max_retries=0 exhausted)*",
    ])


@pytest.mark.slow
def test_a_failing_run_shows_the_users_own_traceback(pytester, user_repo):
    score = user_repo / "score.py"
    score.write_text(score.read_text().replace(
        '        data = pd.read_csv(path)', '        data = pd.read_csv(path)\n'
        '        if path.endswith("clinic-c.csv"):\n'
        '            raise KeyError("chol column missing in " + path)'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "tests/test_scoring.py::test_every_file_is_scored")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*mini-batch 1 [[]clinic-c.csv, clinic-d.csv[]]: RUN_EXCEPTION after 3 attempt(s); "
        "limit hit: retries (max_retries=2 exhausted): KeyError*",
        "*traceback of mini-batch 1 (last attempt):",
        # the user's own file, not the copy registered in the emulator's home
        f'*File "{user_repo.resolve()}/score.py", line *, in run',
        '*raise KeyError("chol column missing in " + path)',
    ])
    assert "bootstrap.py" not in result.stdout.str()


# ------------------------------------------------------------------------------ options


FIXTURE_TESTS = """
def test_one(batch_emulator):
    pass

def test_two(batch_emulator):
    pass

def test_three(score_mini_batch):
    pass
"""


def test_a_bogus_cluster_is_one_usage_error_at_session_start(pytester):
    pytester.makepyfile(FIXTURE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "--batch-emulator-cluster=bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "bogus" in line]
    assert errors == ["ERROR: --batch-emulator-cluster='bogus': use local, inprocess or "
                      "tcp://host:port"]
    assert "passed" not in result.stdout.str() and "error" not in result.stdout.str()


def test_the_ini_option_chooses_the_cluster_and_the_command_line_wins(pytester):
    pytester.makeini("[pytest]\nbatch_emulator_cluster = inprocess\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.batch_emulator_cluster
        def test_needs_processes():
            pass
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(skipped=1)
    pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                  "--batch-emulator-cluster=local").assert_outcomes(passed=1)


def test_a_bogus_ini_option_is_a_usage_error_naming_the_ini_option(pytester):
    pytester.makeini("[pytest]\nbatch_emulator_cluster = nowhere\n")
    pytester.makepyfile(FIXTURE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: the ini option batch_emulator_cluster='nowhere': use "
                                 "local, inprocess or tcp://host:port"])


def test_the_slow_marker_gives_invoke_a_longer_deadline(pytester):
    """An existing scheduler's address: the fixture starts no cluster (nothing connects here)."""
    pytester.makepyfile("""
        import pytest

        def test_default(batch_emulator):
            assert batch_emulator.wait_timeout == 120

        @pytest.mark.batch_emulator_slow
        def test_slow(batch_emulator):
            assert batch_emulator.wait_timeout == 600

        @pytest.mark.batch_emulator_slow(timeout=900)
        def test_slower(batch_emulator):
            assert batch_emulator.wait_timeout == 900
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers",
                                           "--batch-emulator-cluster=tcp://127.0.0.1:9")
    result.assert_outcomes(passed=3)


def test_the_markers_are_registered_with_what_they_do(pytester):
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.batch_emulator_cluster: needs real scoring processes*",
        "@pytest.mark.batch_emulator_slow(timeout=600): the test's jobs take long*invoke() waits "
        "up to timeout seconds instead of 120",
    ])
