from __future__ import annotations

import pytest

from emulator.engine.partition import list_input_files, partition
from emulator.exceptions import InputError


def test_folder_listing_is_recursive_sorted_and_skips_hidden(tmp_path):
    for relative in ["b/2.txt", "a.txt", "b/10.txt", ".hidden", ".git/config", "b/.x", "C.txt"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    files = list_input_files(tmp_path)
    assert [f[len(str(tmp_path)) + 1:] for f in files] == ["C.txt", "a.txt", "b/10.txt", "b/2.txt"]


def test_single_file(tmp_path):
    (tmp_path / "one.csv").write_text("x")
    assert list_input_files(tmp_path / "one.csv") == [str(tmp_path / "one.csv")]


def test_partition_makes_consecutive_runs():
    batches = list(partition([f"f{i}" for i in range(7)], 3))
    assert [(b.id, b.files) for b in batches] == [
        (0, ("f0", "f1", "f2")), (1, ("f3", "f4", "f5")), (2, ("f6",))]


@pytest.mark.parametrize("case", ["missing", "empty", "dangling"])
def test_bad_inputs_name_the_path(tmp_path, case):
    target = tmp_path / "in"
    if case != "missing":
        target.mkdir()
    if case == "dangling":
        (target / "link.csv").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError) as caught:
        list_input_files(target)
    assert str(target) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_link_back_up_the_tree_is_not_followed_forever(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    assert [f[len(str(tmp_path)) + 1:] for f in list_input_files(tmp_path)] == ["a/x.txt"]
