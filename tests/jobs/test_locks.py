"""The package imports where there is no ``fcntl`` (Windows): no module of the emulator imports
it at import time; the locks that need POSIX ``flock`` import it where they are taken. And the
runner slots (``filelock``) let ``max_running_jobs`` runners through, no more."""

from __future__ import annotations

import subprocess
import sys

from emulator.jobs import launch

IMPORT_EVERY_MODULE = r'''
import builtins, importlib, pkgutil, sys

real_import = builtins.__import__


def no_fcntl_for_the_emulator(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__", "")
    if name == "fcntl" and importer.split(".")[0] == "emulator":
        raise ImportError(f"{importer} imports fcntl at import time")
    return real_import(name, globals, locals, fromlist, level)


builtins.__import__ = no_fcntl_for_the_emulator
import emulator

names = [m.name for m in pkgutil.walk_packages(emulator.__path__, "emulator.")
         if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names), "modules")
'''


def test_every_module_imports_without_fcntl():
    """Third-party packages (distributed's locket, filelock) pick msvcrt on Windows; only the
    emulator's own imports of fcntl are refused here."""
    result = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[0]) > 40  # the walk found the package


def test_runner_slots_admit_max_running_jobs_and_are_free_again_once_released(
        tmp_path, monkeypatch):
    monkeypatch.setenv("BATCH_EMULATOR_MAX_RUNNING_JOBS", "2")
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    held = [launch.wait_for_slot(tmp_path, job_dir) for _ in range(2)]
    assert all(slot is not None and slot.is_locked for slot in held)
    assert {slot.lock_file for slot in held} == {str(tmp_path / "runner-slots" / f"slot-{n}.lock")
                                                for n in range(2)}
    launch.request_cancel(job_dir)  # a third waits for a slot; cancelled, it gives up
    assert launch.wait_for_slot(tmp_path, job_dir) is None
    held[0].release()
    assert launch.wait_for_slot(tmp_path, job_dir).lock_file == held[0].lock_file
