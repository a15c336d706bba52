"""Carry one job from Preparing to a final status, on the engine; records every change."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from emulator.engine import environments, outputs, shipping
from emulator.engine.cluster import job_instances
from emulator.engine.partition import list_input_files, partition
from emulator.engine.scheduler import (
    Ending,
    LeaseScheduler,
)
from emulator.engine.tasks import RUN_DONE, MiniBatchResult, ScoringContext
from emulator.exceptions import EmulatorError
from emulator.jobs.claims import release_output
from emulator.jobs.plan import JobPlan, check_output_available
from emulator.jobs.record import MAX_FAILED_MINI_BATCHES_KEPT, FailedMiniBatch, JobRecord, JobStatus
from emulator.scoring.bootstrap import NO_SUCCEEDED_ITEM
from emulator.settings import init_timeout
from emulator.workspace import assets, datastores

PROGRESS_SAVE_SECONDS = 0.5


def execute(plan: JobPlan, job: JobRecord, should_stop: Callable[[], bool] = lambda: False,
            on_change: Callable[[JobRecord], None] = JobRecord.save) -> JobRecord:
    """Run the job to a final status; never raises for a job failure, records it instead."""
    settings = plan.settings
    record = on_change

    def on_change(job: JobRecord) -> None:
        if job.is_terminal:  # the output is free again before anyone can see the job ended
            release_output(plan.output, settings, plan.job_name)
        record(job)

    job.set_status(JobStatus.PREPARING)
    on_change(job)
    logs = outputs.JobLogs(plan.job_dir, settings.logging_level)
    results_file: outputs.ResultsFile | None = None
    try:
        input_store = plan.input.remote
        files = (datastores.list_files(input_store, plan.input.prefix) if input_store
                 else list_input_files(plan.input.path))
        mini_batches = list(partition(files, settings.mini_batch_size))
        job.files_total, job.mini_batches_total = len(files), len(mini_batches)
        check_output_available(plan.output, settings)
        plan.output_dir.mkdir(parents=True, exist_ok=True)
        if settings.output_action == outputs.APPEND_ROW:
            results_file = outputs.ResultsFile(plan.output_dir, settings.output_file_name,
                                               plan.job_name)
        logs.overview(f"{len(files)} input files in {len(mini_batches)} mini-batches of up to "
                      f"{settings.mini_batch_size}; {plan.instance_count} instance(s) x "
                      f"{settings.max_concurrency_per_instance} process(es)")
        for notice in job.notices:
            logs.overview(f"notice: {notice}")

        with job_instances(plan.cluster, plan.instance_count,
                           settings.max_concurrency_per_instance, job.notices,
                           plan.job_name, should_stop) as instances:
            if instances is None or should_stop():
                return _finish(job, logs, results_file, JobStatus.CANCELED, "", on_change)
            shipment = _shipment_for(plan, instances, logs)
            bundles = () if shipment is None else (
                ("code", shipping.deliver(instances.client, shipment, "code", plan.code_dir)),
                ("model", shipping.deliver(instances.client, shipment, "model",
                                           plan.model_dir)))
            python = sys.executable if bundles else _python_for(plan, logs)
            ctx = _scoring_context(plan, instances.names, python, bundles)
            if should_stop():
                return _finish(job, logs, results_file, JobStatus.CANCELED, "", on_change)
            job.dashboard_link = instances.dashboard_link
            job.set_status(JobStatus.RUNNING)
            on_change(job)
            progress = _Progress(job, logs, results_file, on_change)
            outcome = LeaseScheduler(
                instances, ctx, mini_batches, settings.error_threshold, progress.record,
                should_stop, shipment, lambda returned: shipping.write_back(
                    returned, plan.job_dir, plan.output_dir, shipment)).run()
            if shipment is not None:
                logs.overview(shipment.summary())
        progress.save()
        return _conclude(job, logs, results_file, outcome, settings, on_change, plan)
    except EmulatorError as exc:
        return _finish(job, logs, results_file, JobStatus.FAILED, str(exc), on_change,
                       exc.detail)
    except Exception as exc:
        detail = traceback.format_exc()
        return _finish(job, logs, results_file, JobStatus.FAILED,
                       f"the emulator failed unexpectedly: {type(exc).__name__}: {exc}",
                       on_change, detail)


def _python_for(plan: JobPlan, logs: outputs.JobLogs) -> str:
    """The interpreter of the scoring processes: this one, or an isolated environment's."""
    python = plan.python or sys.executable
    if plan.environment is None:
        return python
    spec = environments.EnvironmentSpec.from_dict(plan.environment)
    if spec.mode != environments.ISOLATED:
        return python
    return str(environments.ensure_environment(spec, Path(plan.home), logs.overview))


def _publish_remote(plan: JobPlan, job: JobRecord, results_file) -> None:
    """Finalizing on object storage: the results file (or summary_only files) uploaded with a
    conditional write, so an existing object is never overwritten."""
    store, prefix = plan.output.remote, plan.output.prefix
    sources = [Path(job.output_file)] if results_file is not None else sorted(
        p for p in plan.output_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    for source in sources:
        relative = source.relative_to(plan.output_dir).as_posix()
        datastores.publish(store, source, store.key(f"{prefix}/{relative}"))
    if results_file is not None:
        job.output_file = store.url(f"{prefix}/{Path(job.output_file).name}")


def _shipment_for(plan: JobPlan, instances, logs: outputs.JobLogs) -> shipping.Shipment | None:
    """None when the job's workers read its files where they are (always, on this machine);
    else what it ships them (engine.shipping)."""
    if plan.cluster.local or shipping.workers_share_files(
            instances.client, instances.addresses, plan.job_dir):
        return None
    logs.overview("the workers do not see this machine's files: code, model and local "
                  "inputs travel through Dask")
    return shipping.Shipment()


def _scoring_context(plan: JobPlan, instance_names, python: str,
                     bundles: tuple[tuple[str, str], ...] = ()) -> ScoringContext:
    settings = plan.settings
    source = assets.code_source(plan.code_dir)  # tracebacks name the user's own files
    return ScoringContext(
        job_name=plan.job_name,
        job_dir=str(plan.job_dir),
        code_dir=str(plan.code_dir),
        scoring_script=str(plan.scoring_script),
        model_dir=str(plan.model_dir),
        output_dir=str(plan.output_dir),
        environment_variables=tuple(settings.environment_variables.items()),
        timeout=settings.retry_settings.timeout,
        max_retries=settings.retry_settings.max_retries,
        collect_rows=settings.output_action == outputs.APPEND_ROW,
        logging_level=settings.logging_level,
        python=python,
        concurrency=settings.max_concurrency_per_instance,
        instance_names=instance_names,
        in_process=plan.in_process,
        input_store=plan.input.store,
        init_deadline=init_timeout(),
        source_dir=None if source is None else str(source),
        bundles=bundles,
        environment=plan.environment if bundles else None,
    )


class _Progress:
    """Books each finished mini-batch: counts, results rows, report, throttled job.json."""

    def __init__(self, job, logs, results_file, on_change):
        self.job, self.logs, self.results_file, self.on_change = job, logs, results_file, on_change
        self._saved = 0.0

    def record(self, result: MiniBatchResult, instance: str) -> None:
        job = self.job
        job.mini_batches_completed += 1
        job.files_succeeded += result.succeeded
        job.files_failed += result.failed
        if result.final.status != RUN_DONE:
            job.mini_batches_failed += 1
        if self.results_file is not None:
            self.results_file.append(result.rows)
        self.logs.report(result, instance)
        if result.failed and len(job.failed_mini_batches) < MAX_FAILED_MINI_BATCHES_KEPT:
            last = result.final
            job.failed_mini_batches.append(FailedMiniBatch(
                id=result.mini_batch.id, files=list(result.mini_batch.files),
                attempts=result.attempt_count, status=last.status, failed_files=result.failed,
                error=last.error or _short_return_message(result), traceback=last.traceback))
        if time.monotonic() - self._saved > PROGRESS_SAVE_SECONDS:
            self.save()

    def save(self) -> None:
        self._saved = time.monotonic()
        self.logs.flush()
        self.on_change(self.job)


def _short_return_message(result: MiniBatchResult) -> str:
    if result.succeeded == 0:
        return NO_SUCCEEDED_ITEM
    return (f"run() returned {result.succeeded} item(s) for {result.total} file(s); "
            f"{result.failed} file(s) count as failed")


def _conclude(job, logs, results_file, outcome, settings, on_change, plan) -> JobRecord:
    if outcome.kind == Ending.STOPPED:
        return _finish(job, logs, results_file, JobStatus.CANCELED, "", on_change)
    if outcome.kind == Ending.ERROR_THRESHOLD:
        return _finish(job, logs, results_file, JobStatus.FAILED,
                       f"{job.files_failed} input file(s) failed, more than error_threshold="
                       f"{settings.error_threshold}; the job was aborted. "
                       f"{_first_failure(job)}", on_change)
    if outcome.kind == Ending.INIT_FAILED:
        last_line = outcome.detail.strip().splitlines()[-1] if outcome.detail.strip() else ""
        return _finish(job, logs, results_file, JobStatus.FAILED,
                       f"init() failed in every scoring process ({last_line}); traceback in "
                       "logs/user/error/", on_change, outcome.detail)
    if outcome.kind in (Ending.SCRIPT_INVALID, Ending.SCHEDULER_LOST):
        return _finish(job, logs, results_file, JobStatus.FAILED, outcome.detail, on_change)
    assert outcome.kind == Ending.ALL_SCORED, outcome
    job.set_status(JobStatus.FINALIZING)
    on_change(job)
    if results_file is not None:
        job.output_file = str(results_file.commit())
    if plan.output.store:
        _publish_remote(plan, job, results_file)
    if results_file is not None:
        logs.overview(f"append_row: {results_file.rows_written} row(s) written to "
                      f"{job.output_file}")
    return _finish(job, logs, None, JobStatus.COMPLETED, "", on_change)


def _first_failure(job: JobRecord) -> str:
    if not job.failed_mini_batches:
        return ""
    first = job.failed_mini_batches[0]
    return (f"First failure: mini-batch {first.id} ({first.status}, {first.attempts} "
            f"attempt(s)): {first.error}; tracebacks in logs/user/error/")


def _finish(job, logs, results_file, final_status, error, on_change, detail="") -> JobRecord:
    if results_file is not None:
        results_file.discard()
    job.error = error
    job.error_detail = detail
    result_line = (f"{final_status}: {job.files_succeeded} of {job.files_total} file(s) "
                   f"succeeded, {job.files_failed} failed, in {job.mini_batches_completed} "
                   f"of {job.mini_batches_total} mini-batch(es)")
    logs.overview(result_line + (f"; {error}" if error else ""))
    logs.finish(result_line, "\n".join(filter(None, [error, detail])))
    job.set_status(final_status)
    on_change(job)
    return job
