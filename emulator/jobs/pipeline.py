"""A pipeline job's lifecycle: its plan (every step rendered, with its folders and the steps it
waits for) and carrying it to a final status on the engine, each step a child job recorded
as it starts and ends.

The service resolves everything a plan needs (components, inputs, models, outputs) before a
plan exists; here the steps only run. The parent's progress log names each step's status and
then carries the step's own log, so following the parent follows every step.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.engine import environments
from emulator.engine.cluster import ClusterSpec, job_instances
from emulator.engine.pipeline import COMPLETED, StepResult, StepSpec, run_pipeline
from emulator.exceptions import EmulatorError
from emulator.jobs.plan import JobPlan, Location
from emulator.jobs.record import JobRecord, JobStatus
from emulator.model import schemas
from emulator.model.specs import BatchDeploymentSettings

KIND = "pipeline"
STEP_LOG = "logs/user_logs/std_log.txt"  # Azure's, for command jobs
PARALLEL_RESULTS = "parallel_run_step.txt"  # Azure's results file of a parallel step
# A parallel step's instances when its resources name none: the deployment schema's default.
DEFAULT_PARALLEL_INSTANCES = schemas.load_schema("batch_deployment")["properties"]["resources"][
    "properties"]["instance_count"]["default"]


@dataclass
class PipelinePlan:
    """A pipeline job as its runner sees it."""

    job_name: str
    job_dir: Path
    steps: list[StepSpec]
    step_jobs: dict[str, str]  # step name -> the child job's folder
    continue_on_step_failure: bool = False
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    instance_count: int = 2
    environments: dict[str, dict] = field(default_factory=dict)  # step -> EnvironmentSpec
    home: str = ""
    kind: str = KIND

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["job_dir"] = str(self.job_dir)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> PipelinePlan:
        values = dict(values)
        values["job_dir"] = Path(values["job_dir"])
        values["steps"] = [StepSpec(**{**step, "outputs": tuple(step["outputs"]),
                                       "environment_variables": tuple(
                                           tuple(pair) for pair in step["environment_variables"]),
                                       "after": tuple(step["after"])})
                           for step in values["steps"]]
        values["cluster"] = ClusterSpec(**values["cluster"])
        return cls(**values)


def execute_pipeline(plan: PipelinePlan, job: JobRecord,
                     should_stop: Callable[[], bool] = lambda: False,
                     on_change: Callable[[JobRecord], None] = JobRecord.save) -> JobRecord:
    """Run the pipeline to a final status; a failure is recorded, never raised."""
    overview = Path(plan.job_dir) / job.log_file
    overview.parent.mkdir(parents=True, exist_ok=True)

    def say(line: str) -> None:
        with open(overview, "a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    children = {name: JobRecord.load(folder) for name, folder in plan.step_jobs.items()}
    job.settings["steps"] = {"total": len(plan.steps), "done": 0, "failed": 0}
    job.set_status(JobStatus.PREPARING)
    on_change(job)
    try:
        steps = [dataclasses.replace(step, python=_python_for(plan, step.name, say, job))
                 for step in plan.steps]
        say(f"{len(steps)} step(s): {', '.join(step.name for step in steps)}; "
            f"{plan.instance_count} instance(s)")
        with job_instances(plan.cluster, min(plan.instance_count, max(1, len(steps))), 1,
                           job.notices, plan.job_name, should_stop) as instances:
            if instances is None or should_stop():
                return _finish(job, JobStatus.CANCELED, "", on_change, say)
            job.dashboard_link = instances.dashboard_link
            job.set_status(JobStatus.RUNNING)
            on_change(job)

            def on_step(spec: StepSpec, result: StepResult | None) -> None:
                _record_step(children[spec.name], spec, result, on_change, say)
                if result is not None:
                    counts = job.settings["steps"]
                    counts["done"] += 1
                    counts["failed"] += result.status != COMPLETED
                    on_change(job)


            def run_parallel(spec: StepSpec) -> StepResult:
                return _run_parallel(plan, spec, children[spec.name], instances, should_stop,
                                     on_change)

            results = run_pipeline(instances.client, instances.addresses, steps,
                                   plan.continue_on_step_failure, should_stop, on_step,
                                   run_parallel)
    except EmulatorError as exc:
        return _finish(job, JobStatus.FAILED, str(exc), on_change, say, exc.detail)
    except Exception as exc:
        return _finish(job, JobStatus.FAILED, f"the emulator failed unexpectedly: "
                       f"{type(exc).__name__}: {exc}", on_change, say, traceback.format_exc())
    failed = [r for r in results.values() if r.status not in (COMPLETED, "Canceled")]
    if should_stop():
        return _finish(job, JobStatus.CANCELED, "", on_change, say)
    if failed:
        first = failed[0]
        return _finish(job, JobStatus.FAILED, f"step {first.name} failed: "
                       f"{first.error.splitlines()[0] if first.error else 'see its log'}; see "
                       f"'job show -n {plan.job_name}-{first.name}'", on_change, say, first.error)
    return _finish(job, JobStatus.COMPLETED, "", on_change, say)


def _python_for(plan: PipelinePlan, step: str, say, job: JobRecord) -> str:
    """The step's interpreter: this one (its requirements checked, unmet ones noticed), or
    an isolated environment built for it."""
    values = plan.environments.get(step)
    if not values:
        return ""
    spec = environments.EnvironmentSpec.from_dict(values)
    if spec.mode == environments.ISOLATED:
        return str(environments.ensure_environment(spec, Path(plan.home), say))
    for problem in environments.check(spec):
        notice = f"step {step}: {problem}"
        job.notices.append(notice)
        say(f"notice: {notice}")
    return ""


def _record_step(child: JobRecord, spec: StepSpec, result: StepResult | None,
                 on_change: Callable[[JobRecord], None], say: Callable[[str], None]) -> None:
    if result is None:
        child.set_status(JobStatus.RUNNING)
        say(f"step {spec.name}: Running (job {spec.job_name})")
        on_change(child)
        return
    child.error = result.error.splitlines()[0] if result.error else ""
    child.error_detail = child.error_detail or result.error
    if child.status != result.status:  # a parallel step's own run has recorded it already
        child.set_status(JobStatus(result.status))
    took = f" in {result.end - result.start:.1f} s" if result.end and result.exit_code is not None \
        else ""
    say(f"step {spec.name}: {result.status}{took}" + (f": {child.error}" if child.error else ""))
    try:
        lines = Path(spec.log_file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        say(f"[{spec.name}] {line}")
    on_change(child)


def _run_parallel(plan: PipelinePlan, spec: StepSpec, child: JobRecord, instances,
                  should_stop: Callable[[], bool],
                  on_change: Callable[[JobRecord], None]) -> StepResult:
    """A parallel step: its mini-batches scored by the engine on the pipeline's own cluster,
    with Azure's parallel settings, its results appended to ``append_row_to``."""
    from emulator.scoring.bootstrap import PROGRAM_ARGUMENTS  # the scoring side's name for it

    batch = spec.batch or {}
    started = time.time()
    step_dir = Path(child.job_folder)
    variables = {**dict(spec.environment_variables),
                 PROGRAM_ARGUMENTS: json.dumps(batch.get("program_arguments") or [])}
    settings = BatchDeploymentSettings.from_mapping(
        {**batch.get("settings", {}), "output_file_name": PARALLEL_RESULTS,
         "environment_variables": variables})
    output = Path(batch.get("output") or step_dir / "summary")
    model_dir = step_dir / "model"  # a parallel task's model comes as a program argument
    model_dir.mkdir(parents=True, exist_ok=True)
    code = Path(spec.code_dir or step_dir)
    wanted = (batch.get("resources") or {}).get("instance_count") or DEFAULT_PARALLEL_INSTANCES
    job_plan = JobPlan(
        job_name=spec.job_name, job_dir=step_dir,
        input=Location(batch["input"], path=Path(batch["input"])),
        output=Location(str(output), path=output), code_dir=code,
        scoring_script=code / batch["entry_script"], model_dir=model_dir, settings=settings,
        instance_count=max(1, min(int(wanted), len(instances.addresses))),
        cluster=ClusterSpec(scheduler_address=instances.client.scheduler.address),
        python=spec.python, home=plan.home)
    from emulator.jobs.execute import execute  # the batch engine, when a runner needs it

    record = execute(job_plan, child, should_stop, on_change)
    return StepResult(spec.name, str(record.status), record.error,
                      exit_code=0 if record.status == JobStatus.COMPLETED else None,
                      start=started, end=time.time())


def _finish(job: JobRecord, status: JobStatus, error: str, on_change, say,
            detail: str = "") -> JobRecord:
    job.error, job.error_detail = error, detail
    say(f"{status}" + (f": {error}" if error else ""))
    job.set_status(status)
    on_change(job)
    return job
