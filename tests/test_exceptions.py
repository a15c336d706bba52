"""Exceptions cross Dask and process boundaries: each survives a pickle round-trip."""

from __future__ import annotations

import pickle

import pytest

from emulator import exceptions
from emulator.exceptions import EmulatorError

ALL = [cls for cls in vars(exceptions).values()
       if isinstance(cls, type) and issubclass(cls, EmulatorError)]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_round_trips_through_pickle(cls):
    error = cls("something happened; do this next")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert (copy.code, copy.http_status, copy.exit_code) == (cls.code, cls.http_status,
                                                             cls.exit_code)


def test_validation_error_keeps_every_error():
    error = exceptions.ValidationError("best", ("best", "other"))
    assert pickle.loads(pickle.dumps(error)).errors == ("best", "other")


def test_every_class_declares_distinct_data():
    assert len(ALL) >= 8
    for cls in ALL:
        assert cls.code and 400 <= cls.http_status < 600 and cls.exit_code > 0
