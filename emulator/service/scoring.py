"""One mini-batch scored in a real scoring process, outside any job: what the pytest
plugin's ``score_mini_batch`` fixture runs."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from emulator.engine.scorers import InitFailed, ScoringProcess, ScriptInvalid
from emulator.engine.tasks import RUN_TIMEOUT, ScoringContext
from emulator.exceptions import ValidationError
from emulator.model.loader import load_deployment


@dataclass
class MiniBatchOutcome:
    """What one run(mini_batch) did in a real scoring process."""

    status: str  # RUN_DONE | RUN_EXCEPTION | RUN_TIMEOUT | PROCESS_CRASHED | INIT_FAILED
    total: int
    succeeded: int
    rows: list[str]
    error: str
    traceback: str
    elapsed: float
    stdout: str

    @property
    def failed(self) -> int:
        return self.total - self.succeeded

    @property
    def timed_out(self) -> bool:
        return self.status == RUN_TIMEOUT


def score_mini_batch(files: Sequence[str | os.PathLike], deployment: str | os.PathLike,
                     *, timeout: int | None = None, workdir: str | os.PathLike | None = None,
                     environment_variables: Mapping[str, str] | None = None) -> MiniBatchOutcome:
    """Run the deployment's ``init()`` and one ``run(files)`` in a real scoring process, with
    Azure's environment variables and the deployment's ``retry_settings.timeout``."""
    spec = load_deployment(deployment)
    if spec.code_configuration is None:
        raise ValidationError(f"deployment {spec.name} has no scoring script to run; score_mini_batch "
                              "needs code_configuration")
    if spec.model.path is None:
        raise ValidationError(f"deployment {spec.name}: give the model inline (model: {{path: ...}})")
    root = Path(workdir or tempfile.mkdtemp(prefix="mini-batch-"))
    model_dir = root / "azureml-models"
    model_dir.mkdir(parents=True, exist_ok=True)
    link = model_dir / spec.model.path.name
    if not link.exists():
        link.symlink_to(spec.model.path, target_is_directory=spec.model.path.is_dir())
    (root / "score").mkdir(exist_ok=True)
    settings = spec.settings
    ctx = ScoringContext(
        job_name=f"mini-batch-{os.getpid()}-{time.time_ns()}", job_dir=str(root),
        code_dir=str(spec.code_configuration.code),
        scoring_script=str(spec.code_configuration.script_path), model_dir=str(model_dir),
        output_dir=str(root / "score"),
        environment_variables=tuple({**settings.environment_variables,
                                     **(environment_variables or {})}.items()),
        timeout=timeout or settings.retry_settings.timeout, max_retries=0, collect_rows=True,
        logging_level=settings.logging_level, python=sys.executable, concurrency=1,
        instance_names=())
    files = tuple(str(Path(f).resolve()) for f in files)
    process = ScoringProcess(ctx, "instance-0", 0)
    stdout_log = root / "logs" / "user" / "stdout" / "instance-0" / "process000.stdout.txt"
    try:
        try:
            process.wait_ready()
        except (InitFailed, ScriptInvalid) as exc:
            text = getattr(exc, "traceback_text", str(exc))
            return MiniBatchOutcome("INIT_FAILED", len(files), 0, [], text.strip().splitlines()[-1],
                                    text, 0.0, _read(stdout_log))
        attempt, rows = process.run(files)
    finally:
        with contextlib.suppress(Exception):
            process.kill()
    return MiniBatchOutcome(attempt.status, len(files), min(attempt.succeeded, len(files)),
                            rows.splitlines(), attempt.error, attempt.traceback, attempt.elapsed,
                            _read(stdout_log))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
