"""Concurrency, adversarially: one owner per output location, whatever races for it.

Each row of ``RACES`` is two jobs wanting outputs in one folder at once: the second is
refused at once, naming the first, and nothing of it is written; when the first ends, the
location is free again for what its outputs allow. Add a row to try another race.
"""

from __future__ import annotations

import os

import pytest

from emulator.exceptions import OutputExistsError
from tests.helpers import wait_for

# (first job's settings, second job's settings, whether the second may run at the same time)
RACES = [
    pytest.param({"output_action": "summary_only"}, {"output_action": "summary_only"}, False,
                 id="summary_only-twice"),
    pytest.param({}, {}, False, id="append_row-same-file"),
    pytest.param({"output_action": "summary_only"}, {}, False, id="summary_only-then-file"),
    pytest.param({}, {"output_action": "summary_only"}, False, id="file-then-summary_only"),
    pytest.param({}, {"output_file_name": "other.csv"}, True, id="append_row-other-file"),
]


@pytest.mark.parametrize(("first", "second", "both"), RACES)
def test_one_job_owns_an_output_location(first, second, both, make_deployment, make_inputs,
                                         start_job, run_job, tmp_path):
    output = tmp_path / "shared"
    slow = make_deployment("slow_list.py", env={"SLOW_SECONDS": "0.3"}, mini_batch_size=1,
                           **first)
    owner = start_job(slow, make_inputs(4), output_path=output)
    wait_for(lambda: owner.record.status == "Running", 60, "the first job to run")
    quick = make_deployment("writes_output.py", **second)
    if both:
        assert run_job(quick, make_inputs(2, name="second"), output_path=output).status == \
            "Completed"
    else:
        with pytest.raises(OutputExistsError, match=f"being written by job {owner.name}"):
            run_job(quick, make_inputs(2, name="second"), output_path=output)
    record = owner.wait(120)
    assert record.status == "Completed", record.error
    written = sorted(name for name in os.listdir(output) if not name.startswith("."))
    expected = {"summary_only": [], "append_row": ["predictions.csv"]}[
        first.get("output_action", "append_row")]
    if both:
        expected = sorted([*expected, "f000.out", "f001.out", "other.csv"])
    assert written == expected  # nothing of a refused job, nothing left of the claims
    assert [name for name in os.listdir(output) if name.startswith(".")] == []


def test_a_failed_job_frees_its_output_for_the_next(make_deployment, make_inputs, run_job,
                                                    tmp_path):
    output = tmp_path / "retry"
    failed = run_job(make_deployment("init_fails.py"), make_inputs(2), output_path=output)
    assert failed.status == "Failed"
    again = run_job(make_deployment("succeed_list.py"), make_inputs(2, name="again"),
                    output_path=output)
    assert again.status == "Completed", again.error
