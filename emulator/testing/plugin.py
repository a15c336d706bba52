"""pytest plugin: test scoring scripts and deployment YAMLs against Azure's batch semantics.

Installed with the package (entry point ``pytest11``). Fixtures:

``batch_emulator`` (function scope, ``emulator.testing.harness.BatchEmulator``)
    An isolated emulator for one test, with its own home under ``tmp_path``; cheap, because
    jobs run on the session's cluster. ``deploy(yaml, set_values=[...])``,
    ``invoke(folder | files=[...] | rows=DataFrame)`` (waits, deadline 120 s),
    ``inject_fault(pattern, "raise" | "hang" | "crash", times=None)``; results give
    ``status``, ``succeeded``, ``failed``, ``predictions()``, ``report()``, ``describe()``,
    ``assert_completed()`` and ``assert_all_succeeded()``.
``score_mini_batch`` (function scope, callable)
    ``score_mini_batch(files, deployment=None, timeout=None)``: ``init()`` and one
    ``run(files)`` in a real scoring process, returning a ``MiniBatchOutcome`` (status,
    succeeded, failed, timed_out, rows, error, traceback, stdout).
``batch_emulator_deployment`` (function scope, ``Path``; default ``<rootdir>/deployment.yml``)
    The YAML ``deploy()`` and ``score_mini_batch`` use when given none; override it.
``batch_emulator_cluster`` (session scope, ``ClusterInfo``)
    The cluster every job of the session runs on, chosen by ``--batch-emulator-cluster``
    (else the ini option ``batch_emulator_cluster``): ``local`` (default, a LocalCluster of
    ``batch_emulator_workers`` workers), ``inprocess`` (scoring in the pytest process, for
    debuggers and coverage; cannot kill a hung run()), or ``tcp://host:port`` (an existing
    scheduler). Any other value is a usage error when the session starts.
``batch_emulator_workers`` (session scope, ``int``, default 2)
    Workers of the local cluster; override to change.

Markers: ``batch_emulator_cluster`` (the test needs real scoring processes: skipped with
``--batch-emulator-cluster=inprocess``) and ``batch_emulator_slow(timeout=600)`` (the test's
jobs take long, real run() timeouts and retries: ``invoke`` waits up to ``timeout`` seconds
for them instead of 120).
When a test fails, its report gets a "batch emulator jobs" section with every failed job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

INPROCESS = "inprocess"
LOCAL = "local"
EXTERNAL_SCHEMES = ("tcp://", "tls://", "inproc://")
SLOW_DEADLINE = 600.0  # seconds invoke() waits in a batch_emulator_slow test (else 120)


@dataclass(frozen=True)
class ClusterInfo:
    mode: str  # local | inprocess | external
    scheduler_address: str

    @property
    def in_process(self) -> bool:
        return self.mode == INPROCESS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batch-emulator", "Azure ML batch endpoint emulator")
    help_text = ("local (default): a Dask LocalCluster for the session; inprocess: score in "
                 "the pytest process (debuggers, coverage; a hung run() cannot be killed); "
                 "tcp://host:port: an existing Dask scheduler.")
    group.addoption("--batch-emulator-cluster", default=None, metavar="MODE",
                    help=help_text + " Overrides the ini option batch_emulator_cluster.")
    parser.addini("batch_emulator_cluster", "the batch emulator's cluster when "
                  "--batch-emulator-cluster is not given: " + help_text, default=LOCAL)


def cluster_mode(config: pytest.Config) -> str:
    """``--batch-emulator-cluster``, else the ini option ``batch_emulator_cluster``."""
    given = config.getoption("--batch-emulator-cluster")
    return (given if given is not None else config.getini("batch_emulator_cluster")).strip()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "batch_emulator_cluster: needs real scoring processes "
                                       "(kills, crashes); skipped with "
                                       "--batch-emulator-cluster=inprocess")
    config.addinivalue_line("markers", "batch_emulator_slow(timeout=600): the test's jobs take "
                                       "long (real run() timeouts, retries); batch_emulator."
                                       "invoke() waits up to timeout seconds instead of 120")
    mode = cluster_mode(config)
    if mode not in (LOCAL, INPROCESS) and not mode.startswith(EXTERNAL_SCHEMES):
        where = "--batch-emulator-cluster" if config.getoption("--batch-emulator-cluster") \
            is not None else "the ini option batch_emulator_cluster"
        raise pytest.UsageError(f"{where}={mode!r}: use local, inprocess or tcp://host:port")


def pytest_runtest_setup(item: pytest.Item) -> None:
    mode = cluster_mode(item.config)
    if mode == INPROCESS and item.get_closest_marker("batch_emulator_cluster"):
        pytest.skip("needs real scoring processes; --batch-emulator-cluster=inprocess cannot "
                    "kill a hung run() or survive a crash")


@pytest.fixture(scope="session")
def batch_emulator_workers() -> int:
    """Workers (instances) of the session's local cluster."""
    return 2


@pytest.fixture(scope="session")
def batch_emulator_cluster(request: pytest.FixtureRequest,
                           batch_emulator_workers: int) -> Iterator[ClusterInfo]:
    """The Dask cluster shared by every job of the session."""
    mode = cluster_mode(request.config)  # checked when the session started
    if mode.startswith(EXTERNAL_SCHEMES):
        yield ClusterInfo("external", mode)
        return
    # Here, not at the top: pytest loads this plugin in every run of every project that has
    # the emulator installed; only sessions using the fixtures pay for Dask.
    import dask
    from distributed import LocalCluster

    # Dask's INFO chatter would bury the test's own log in every failure report.
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.WARNING)

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=batch_emulator_workers, threads_per_worker=2,
                               processes=mode != INPROCESS, dashboard_address="127.0.0.1:0",
                               memory_limit=0, silence_logs=logging.ERROR)
    try:
        yield ClusterInfo(mode, cluster.scheduler_address)
    finally:
        cluster.close()


@pytest.fixture
def batch_emulator_deployment(request: pytest.FixtureRequest) -> Path:
    """The deployment YAML used when a test names none: ``<rootdir>/deployment.yml``."""
    candidate = Path(request.config.rootpath) / "deployment.yml"
    if not candidate.exists():
        candidate = Path(request.config.invocation_params.dir) / "deployment.yml"
    return candidate


@pytest.fixture
def batch_emulator(request: pytest.FixtureRequest, batch_emulator_cluster: ClusterInfo,
                   batch_emulator_deployment: Path, tmp_path: Path):
    """An isolated emulator for this test (its own home under tmp_path)."""
    from emulator.testing.harness import BatchEmulator  # the engine, for tests that use it

    slow = request.node.get_closest_marker("batch_emulator_slow")
    deadline = {"wait_timeout": float(slow.kwargs.get("timeout", SLOW_DEADLINE))} if slow else {}
    return BatchEmulator(home=tmp_path / "batch-emulator-home",
                         scheduler_address=batch_emulator_cluster.scheduler_address,
                         in_process=batch_emulator_cluster.in_process,
                         default_deployment=batch_emulator_deployment, **deadline)


@pytest.fixture
def score_mini_batch(batch_emulator_deployment: Path, tmp_path: Path):
    """``score_mini_batch(files, deployment=None, timeout=None)`` in a real scoring process."""
    from emulator.service import score_mini_batch as score  # as above

    counter = iter(range(10**6))

    def run(files, deployment=None, *, timeout=None, environment_variables=None):
        return score(files, deployment or batch_emulator_deployment, timeout=timeout,
                     workdir=tmp_path / f"mini-batch-{next(counter)}",
                     environment_variables=environment_variables)

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    from emulator.testing.harness import BatchJobError  # as above

    if call.excinfo is not None and call.excinfo.errisinstance(BatchJobError):
        return  # the failure message is the report already
    emulator = getattr(item, "funcargs", {}).get("batch_emulator")
    jobs = [job for job in getattr(emulator, "jobs", []) if job.status != "Completed"
            or job.failed]
    if jobs:
        report.sections.append(("batch emulator jobs",
                                "\n\n".join(job.describe() for job in jobs)))
