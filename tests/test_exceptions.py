"""One error hierarchy: every class in ``emulator.exceptions``, each with its own data, and
each surviving a pickle round-trip (errors cross Dask and process boundaries)."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest

import emulator
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


def test_detail_and_every_validation_error_survive_pickle():
    error = exceptions.ValidationError("best", ("best", "other"))
    assert pickle.loads(pickle.dumps(error)).errors == ("best", "other")
    built = pickle.loads(pickle.dumps(exceptions.EnvironmentBuildError("failed", "uv said")))
    assert (str(built), built.detail) == ("failed", "uv said")
    assert EmulatorError("plain").detail == ""


def test_classes_that_declare_data_are_distinct():
    declared = [cls for cls in ALL if "code" in vars(cls)]
    triples = [(cls.code, cls.http_status, cls.exit_code) for cls in declared]
    assert len(set(triples)) == len(triples), sorted(zip(triples, declared, strict=True))
    for cls in ALL:
        assert cls.__doc__, f"{cls.__name__} says nothing of when it is raised"
        assert cls.code and 400 <= cls.http_status < 600 and cls.exit_code > 0


def test_every_error_class_of_the_package_lives_in_one_module():
    found = set()
    for module in pkgutil.walk_packages(emulator.__path__, "emulator."):
        if any(part in module.name for part in ("shim", "mlflow_driver", "__main__")):
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, type) and issubclass(value, EmulatorError):
                found.add(value)
    assert {cls.__module__ for cls in found} == {"emulator.exceptions"}
    assert found == set(ALL)
