"""Return accounting and output formatting, by Azure's rules (SPEC §6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emulator.scoring.bootstrap import account


def test_dataframe_counts_rows_and_writes_space_separated_rows_with_csv_quoting():
    frame = pd.DataFrame({"file": ["a.csv", "b c.csv"], "score": [0.25, 1.0],
                          "note": ['say "x"', "two\nlines"]})
    succeeded, text = account(frame, 2, collect_rows=True)
    assert succeeded == 2
    assert text == 'a.csv 0.25 "say ""x"""\n"b c.csv" 1.0 "two\nlines"\n'


def test_series_counts_values():
    assert account(pd.Series([1, 2, 3]), 3, True) == (3, "1\n2\n3\n")


@pytest.mark.parametrize("result", [["x", "y"], ("x", "y"), iter(["x", "y"]),
                                    (item for item in ["x", "y"])])
def test_iterables_count_one_success_per_element(result):
    assert account(result, 2, collect_rows=True) == (2, "x\ny\n")


def test_numpy_elements_are_written_with_str():
    assert account(np.array([[1, 2], [3, 4]]), 2, True) == (2, "[1 2]\n[3 4]\n")


def test_none_counts_nothing_and_more_than_asked_is_fine():
    assert account(None, 3, True) == (0, "")
    assert account(list(range(5)), 2, True)[0] == 5


def test_summary_only_does_not_build_rows():
    assert account(["x", "y"], 2, collect_rows=False) == (2, "")


def test_a_string_is_one_element_not_its_characters():
    assert account("done", 1, True) == (1, "done\n")
