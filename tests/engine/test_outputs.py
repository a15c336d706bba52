from __future__ import annotations

import pytest

from emulator.engine.outputs import ResultsFile, check_output_available
from emulator.exceptions import OutputExistsError


def test_results_are_published_only_on_commit(tmp_path):
    results = ResultsFile(tmp_path, "predictions.csv", "job-1")
    results.append("a\n")
    assert not (tmp_path / "predictions.csv").exists()
    results.append("b\n")
    assert results.commit().read_text() == "a\nb\n"
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]
    assert results.rows_written == 2


def test_commit_never_overwrites_a_file_created_meanwhile(tmp_path):
    results = ResultsFile(tmp_path, "predictions.csv", "job-1")
    results.append("mine\n")
    (tmp_path / "predictions.csv").write_text("theirs\n")
    with pytest.raises(OutputExistsError, match="left untouched"):
        results.commit()
    assert (tmp_path / "predictions.csv").read_text() == "theirs\n"
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]


def test_discard_leaves_nothing(tmp_path):
    results = ResultsFile(tmp_path, "predictions.csv", "job-1")
    results.append("x\n")
    results.discard()
    assert list(tmp_path.iterdir()) == []


def test_two_jobs_racing_for_one_file_cannot_both_publish(tmp_path):
    first = ResultsFile(tmp_path, "predictions.csv", "job-1")
    second = ResultsFile(tmp_path, "predictions.csv", "job-2")
    first.append("1\n")
    second.append("2\n")
    first.commit()
    with pytest.raises(OutputExistsError):
        second.commit()
    assert (tmp_path / "predictions.csv").read_text() == "1\n"


def test_check_output_available(tmp_path):
    check_output_available(tmp_path / "new", "append_row", "predictions.csv")
    check_output_available(tmp_path, "summary_only", "predictions.csv")  # empty folder is fine
    (tmp_path / ".partial").write_text("")
    check_output_available(tmp_path, "summary_only", "predictions.csv")  # hidden files ignored
    (tmp_path / "predictions.csv").write_text("x")
    with pytest.raises(OutputExistsError):
        check_output_available(tmp_path, "append_row", "predictions.csv")
    with pytest.raises(OutputExistsError):
        check_output_available(tmp_path, "summary_only", "predictions.csv")
