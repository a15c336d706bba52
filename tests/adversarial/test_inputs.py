"""Inputs on disk, adversarially. ``REFUSED`` rows are inputs refused before a job exists,
with the message they must give; ``SCORED`` rows are odd inputs that must score in full."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.exceptions import InputError


def _broken_link(folder: Path) -> Path:
    (folder / "gone").symlink_to(folder / "nowhere")
    return folder


def _link_loop(folder: Path) -> Path:
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    return folder


def _self_loop(folder: Path) -> Path:
    (folder.parent / "self").symlink_to(folder.parent / "self")
    return folder.parent / "self"


def _empty(folder: Path) -> Path:
    for child in folder.iterdir():
        child.unlink()
    (folder / ".hidden").write_text("x")
    return folder


def _missing(folder: Path) -> Path:
    return folder / "not-there"


REFUSED = [
    pytest.param(_broken_link, r"gone cannot be read", id="broken-link"),
    pytest.param(_link_loop, r"[ab] cannot be read", id="link-loop"),
    pytest.param(_self_loop, r"broken or looping symbolic link", id="input-is-a-self-loop"),
    pytest.param(_empty, r"holds no files to score", id="only-hidden-files"),
    pytest.param(_missing, r"does not exist", id="missing"),
]


@pytest.mark.parametrize(("make", "message"), REFUSED)
def test_a_bad_input_is_refused_before_a_job_exists(make, message, make_inputs,
                                                    make_deployment, run_job, home):
    inputs = make(make_inputs(2))
    with pytest.raises(InputError, match=message):
        run_job(make_deployment("succeed_list.py"), inputs)
    jobs = home / "default" / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []


def _latin1_name(folder: Path) -> Path:
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as file:
        file.write(b"5\n")
    return folder


def _deep_tree(folder: Path) -> Path:
    deep = folder / "/".join(["d"] * 40)
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("x")
    return folder


def _link_to_a_parent(folder: Path) -> Path:
    (folder / "up").symlink_to(folder)  # a loop back up the tree: followed once, not forever
    return folder


SCORED = [
    pytest.param(_latin1_name, 3, id="name-not-utf8"),
    pytest.param(_deep_tree, 3, id="forty-folders-deep"),
    pytest.param(_link_to_a_parent, 2, id="link-to-a-parent"),
]


@pytest.mark.parametrize(("make", "files"), SCORED)
def test_an_odd_input_scores_in_full(make, files, make_inputs, make_deployment, run_job):
    inputs = make(make_inputs(2))
    job = run_job(make_deployment("succeed_list.py", mini_batch_size=1), inputs)
    assert job.status == "Completed", job.error
    assert (job.files_total, job.files_succeeded) == (files, files)
    rows = Path(job.output_file).read_bytes().splitlines()
    assert len(rows) == files


def test_a_name_that_is_not_utf8_is_written_back_as_its_own_bytes(make_inputs, make_deployment,
                                                                  run_job, tmp_path):
    inputs = _latin1_name(make_inputs(1))
    job = run_job(make_deployment("succeed_list.py", mini_batch_size=1), inputs)
    assert job.status == "Completed", job.error
    rows = sorted(Path(job.output_file).read_bytes().splitlines())
    assert rows == [b"caf\xe9.txt: 2", b"f000.txt: 20"]
    report = (Path(job.job_folder) / "logs" / "sys" / "job_report" /
              "processed_mini-batches.csv").read_bytes()
    assert b"caf\xe9.txt" in report
