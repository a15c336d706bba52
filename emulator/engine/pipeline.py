"""A pipeline's steps on Dask: one task per step, each a shell command in a subprocess of
its worker; a step is submitted once the steps whose outputs it reads have completed, so
independent steps run side by side, one per worker thread.

A step's process runs in a process group of its own, killed whole at its timeout or on
cancel (a cancel file the step polls). What a step prints goes to its ``std_log.txt``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

COMPLETED, FAILED, CANCELED = "Completed", "Failed", "Canceled"
POLL_SECONDS = 0.05
LOG_TAIL_LINES = 5


@dataclass(frozen=True)
class StepSpec:
    """One step as its worker runs it: the rendered command and where it runs."""

    name: str
    job_name: str
    command: str
    work_dir: str  # the step's working directory: a copy of its code, or an empty folder
    log_file: str  # what the command prints, Azure's user_logs/std_log.txt
    cancel_file: str  # the pipeline's: when it exists the step is killed
    python: str = ""  # the interpreter `python` means in the command ("" is the worker's)
    code_dir: str = ""
    outputs: tuple[str, ...] = ()  # folders the step writes, created before it starts
    environment_variables: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None
    after: tuple[str, ...] = ()  # steps whose outputs this one reads
    kind: str = "command"  # or "parallel": mini-batches on the engine, carried by the runner
    batch: dict | None = None  # a parallel step's input, results folder, script and settings


@dataclass
class StepResult:
    name: str
    status: str
    error: str = ""
    exit_code: int | None = None
    start: float = field(default_factory=time.time)
    end: float | None = None


def run_step(spec: StepSpec) -> StepResult:
    """Run one step's command to its end (on a Dask worker); never raises for the step."""
    result = StepResult(spec.name, FAILED)
    log = Path(spec.log_file)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        _prepare(spec)
        with open(log, "ab") as output:
            process = subprocess.Popen(["/bin/bash", "-c", spec.command], cwd=spec.work_dir,
                                       stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, env=_environment(spec),
                                       start_new_session=True)
        result.status, result.error, result.exit_code = _wait(process, spec)
    except OSError as exc:
        result.error = f"the step could not start: {exc}"
    result.end = time.time()
    if result.status == FAILED and result.exit_code is not None:
        tail = _tail(log)
        result.error += f"; its last lines:\n{tail}" if tail else ""
    return result


def _prepare(spec: StepSpec) -> None:
    work = Path(spec.work_dir)
    if spec.code_dir and not work.exists():  # the step may write beside its code: a copy
        shutil.copytree(spec.code_dir, work, ignore=shutil.ignore_patterns(".copied-from"))
    work.mkdir(parents=True, exist_ok=True)
    for folder in spec.outputs:
        Path(folder).mkdir(parents=True, exist_ok=True)


def _environment(spec: StepSpec) -> dict[str, str]:
    environment = dict(os.environ)
    if spec.python:  # `python` in the command is the step's interpreter
        environment["PATH"] = f"{Path(spec.python).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment.update({"AZUREML_RUN_ID": spec.job_name, "AZUREML_STEP_NAME": spec.name})
    environment.update(dict(spec.environment_variables))
    return environment


def _wait(process: subprocess.Popen, spec: StepSpec) -> tuple[str, str, int | None]:
    deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
    while True:
        try:
            code = process.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if Path(spec.cancel_file).exists():
                _kill(process)
                return CANCELED, "canceled", None
            if deadline is not None and time.monotonic() > deadline:
                _kill(process)
                return FAILED, (f"the step ran past its timeout ({spec.timeout:g} s, "
                                "limits.timeout) and was killed"), None
            continue
        if code == 0:
            return COMPLETED, "", 0
        return FAILED, f"the command exited with code {code}", code


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def run_pipeline(client, workers: list[str], steps: list[StepSpec], continue_on_failure: bool,
                 should_stop: Callable[[], bool],
                 on_step: Callable[[StepSpec, StepResult | None], None],
                 run_parallel: Callable[[StepSpec], StepResult] | None = None,
                 ) -> dict[str, StepResult]:
    """Run the steps (in an order where each comes after its ``after``) on ``workers``;
    ``on_step(spec, None)`` when a step starts and ``on_step(spec, result)`` when it ends.
    A parallel step is handed to ``run_parallel`` in a thread of this process (it schedules
    its own mini-batches on the same cluster). A step whose inputs did not complete is not
    run (Canceled); after a failure, with ``continue_on_failure`` False, no further step
    starts."""
    pending = list(steps)
    running: dict = {}  # future (Dask's, or a thread's) -> spec
    threads = ThreadPoolExecutor(max_workers=max(1, len(steps)), thread_name_prefix="step")
    results: dict[str, StepResult] = {}
    stopping = False
    while pending or running:
        if should_stop() and not stopping:
            stopping = True
            if steps:
                Path(steps[0].cancel_file).touch()  # the running steps kill themselves
        failed = any(r.status != COMPLETED for r in results.values())
        for spec in list(pending):
            blocked = [name for name in spec.after if name in results
                       and results[name].status != COMPLETED]
            if stopping or blocked or (failed and not continue_on_failure):
                pending.remove(spec)
                reason = ("canceled" if stopping else
                          f"not run: step {blocked[0]} did not complete" if blocked else
                          "not run: another step failed (continue_on_step_failure is false)")
                results[spec.name] = StepResult(spec.name, CANCELED, reason, end=time.time())
                on_step(spec, results[spec.name])
            elif all(name in results for name in spec.after):
                pending.remove(spec)
                if spec.kind == "parallel" and run_parallel is not None:
                    future = threads.submit(run_parallel, spec)
                else:
                    future = client.submit(run_step, spec, key=f"step-{spec.job_name}",
                                           pure=False, workers=workers, allow_other_workers=False)
                running[future] = spec
                on_step(spec, None)
        done = [future for future in running if future.done()]
        if not done:
            time.sleep(POLL_SECONDS)  # a step runs seconds: a short poll costs nothing
            continue
        for future in done:
            spec = running.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # the worker died under the step
                result = StepResult(spec.name, FAILED, f"the step's worker failed: {exc}",
                                    end=time.time())
            results[spec.name] = result
            on_step(spec, result)
    threads.shutdown(wait=True)
    return results
