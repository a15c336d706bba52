"""What crosses the wire between the job runner and Dask workers (all picklable)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Status of one attempt, as in Azure's processed_mini-batches.csv
RUN_DONE = "RUN_DONE"
RUN_TIMEOUT = "RUN_TIMEOUT"
RUN_EXCEPTION = "RUN_EXCEPTION"
PROCESS_CRASHED = "PROCESS_CRASHED"
NOT_RUN = "NOT_RUN"


@dataclass(frozen=True)
class ScoringContext:
    """Everything a worker needs to start scoring processes for one job."""

    job_name: str
    job_dir: str
    code_dir: str
    scoring_script: str
    model_dir: str
    output_dir: str
    environment_variables: tuple[tuple[str, str], ...]
    timeout: int
    max_retries: int
    collect_rows: bool
    logging_level: str
    python: str
    concurrency: int
    instance_names: tuple[tuple[str, str], ...]  # (worker address, instance name)
    in_process: bool = False  # score in the worker's own process (pytest's inprocess mode)
    input_store: dict | None = None  # files are keys in this RemoteStore, downloaded first

    init_deadline: float | None = None  # seconds; None: Azure's 3 x run timeout + 30 s
    # the folder code_dir (a registered copy) was made from: tracebacks name its files
    source_dir: str | None = None
    # workers that do not see this machine's files: (role, digest) of the code and model
    # bundles they install (engine.shipping); empty: they read the paths above
    bundles: tuple[tuple[str, str], ...] = ()
    environment: dict | None = None  # the EnvironmentSpec, for a worker that builds it

    @property
    def init_timeout(self) -> float:
        return self.init_deadline or 3 * self.timeout + 30

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1


@dataclass(frozen=True)
class MiniBatch:
    id: int
    files: tuple[str, ...]
    attempts_made: int = 0  # attempts spent before this lease (e.g. on a lost worker)


@dataclass(frozen=True)
class Lease:
    """One Dask task: consecutive mini-batches scored by one scoring process."""

    number: int
    mini_batches: tuple[MiniBatch, ...]
    failure_budget: int | None  # stop early once this many files failed; None = never
    files: tuple[tuple[str, bytes], ...] = ()  # local inputs' bytes, for a remote worker


@dataclass
class Attempt:
    status: str
    process: str
    start: float
    elapsed: float
    succeeded: int = 0
    error: str = ""
    traceback: str = ""


@dataclass
class MiniBatchResult:
    mini_batch: MiniBatch
    attempts: list[Attempt] = field(default_factory=list)
    rows: str = ""

    @property
    def total(self) -> int:
        return len(self.mini_batch.files)

    @property
    def attempt_count(self) -> int:
        return self.mini_batch.attempts_made + len(self.attempts)

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def succeeded(self) -> int:
        last = self.final
        return min(last.succeeded, self.total) if last.status == RUN_DONE else 0

    @property
    def failed(self) -> int:
        return self.total - self.succeeded


@dataclass
class LeaseResult:
    lease: Lease
    results: list[MiniBatchResult]
    unprocessed: list[MiniBatch]
    instance: str = ""
    init_failure: str = ""  # the last init() traceback, when a slot gave up initialising
    instance_dead: bool = False  # no slot of this instance can initialise any more
    script_invalid: str = ""
    # a remote worker's new log lines and output files: (path under the job, bytes)
    returned: tuple[tuple[str, bytes], ...] = ()
