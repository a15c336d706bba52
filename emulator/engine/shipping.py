"""A job on workers that do not see this machine's files (another host, a Kubernetes pod).

Before its first lease a job asks its workers whether they see a file it just wrote in its
folder. Where all of them do (a LocalCluster, a warm compute, a scheduler on a shared
filesystem) nothing moves: the zero-copy path. Where one does not, everything a scoring
process needs travels through Dask:

- the code and model folders as zip *bundles*, each a ``WorkerPlugin`` named by the SHA-256
  of its content: registered once per scheduler (a name already registered is not sent
  again), installed by every worker, present and future, into its cache once
  (``<dask temporary-directory>/batch-emulator/bundles/<digest>``; ``fetched.log`` there
  has a line per install), so a changed folder is a new bundle and two model versions never
  share a folder;
- the environment specification (the worker builds an isolated one itself);
- local input files, as bytes inside each lease (inputs on object storage are downloaded
  by the worker, as before);
- and back, with each lease's result, what the scoring processes appended to their logs
  and wrote to the output folder since the last lease, written into the job's folders here.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import dask
from distributed.diagnostics.plugin import WorkerPlugin

from emulator.engine import environments
from emulator.engine.tasks import ScoringContext
from emulator.exceptions import ClusterError

CACHE = "batch-emulator"
PROBE = ".shared-filesystem-probe"
PLUGIN_PREFIX = "batch-emulator-bundle-"
LOGS = "logs/"
OUTPUTS = "outputs/"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same folder, the same bytes, the same digest


# ------------------------------------------------------------------------- job side


@dataclass
class Shipment:
    """What a job sent to its workers and got back, in bytes (its overview log says it)."""

    bundles: dict[str, tuple[str, int, bool]] = field(default_factory=dict)  # role: digest, size, sent
    inputs: int = 0
    returned: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_inputs(self, size: int) -> None:
        with self._lock:
            self.inputs += size

    def count_returned(self, size: int) -> None:
        with self._lock:
            self.returned += size

    def summary(self) -> str:
        parts = [f"{role} {digest[:12]}: {size} bytes, "
                 f"{'sent' if sent else 'already on the scheduler'}"
                 for role, (digest, size, sent) in self.bundles.items()]
        return (f"shipped to remote workers: {'; '.join(parts)}; inputs: {self.inputs} bytes; "
                f"logs and outputs back: {self.returned} bytes")


def workers_share_files(client, addresses: list[str], job_dir: Path) -> bool:
    """True when every worker reads the probe this job just wrote in its folder."""
    probe = job_dir / PROBE
    token = secrets.token_hex(16)
    probe.write_text(token, encoding="utf-8")
    try:
        seen = client.run(_reads, str(probe), token, workers=addresses)
    finally:
        probe.unlink(missing_ok=True)
    return all(seen.get(address) for address in addresses)


def _reads(path: str, token: str) -> bool:
    try:
        return Path(path).read_text(encoding="utf-8") == token
    except (OSError, UnicodeDecodeError):
        return False


def deliver(client, shipment: Shipment, role: str, folder: Path) -> str:
    """Register ``folder`` as a bundle plugin unless the scheduler has it: its digest."""
    digest, data = pack(folder)
    name = PLUGIN_PREFIX + digest
    registered = client.run_on_scheduler(_plugin_names)
    sent = name not in registered
    if sent:
        answers = client.register_plugin(BundlePlugin(role, digest, data), name=name)
        failed = {worker: answer for worker, answer in (answers or {}).items()
                  if isinstance(answer, dict) and answer.get("status") == "error"}
        if failed:
            worker, answer = next(iter(failed.items()))
            raise ClusterError(f"worker {worker} could not install the {role} folder {folder} "
                               f"(bundle {digest[:12]}): {answer.get('exception_text') or answer}")
    shipment.bundles[role] = (digest, len(data), sent)
    return digest


def _plugin_names(dask_scheduler=None) -> list[str]:
    return list(dask_scheduler.worker_plugins)


def pack(folder: Path) -> tuple[str, bytes]:
    """``folder`` as a zip whose bytes depend only on the files' names, modes and contents."""
    buffer = io.BytesIO()
    files = sorted(Path(top, name) for top, _, names in os.walk(folder, followlinks=True)
                   for name in names)  # a job's model folder is a link to the model
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), ZIP_TIME)
            info.external_attr = (path.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return hashlib.sha256(data).hexdigest(), data


def payload(files: tuple[str, ...], shipment: Shipment) -> tuple[tuple[str, bytes], ...]:
    """The bytes of a lease's local input files, read here for a worker that cannot."""
    read = tuple((path, Path(path).read_bytes()) for path in files)
    shipment.count_inputs(sum(len(data) for _, data in read))
    return read


def write_back(returned: tuple[tuple[str, bytes], ...], job_dir: Path, output_dir: Path,
               shipment: Shipment) -> None:
    """Append what a lease brought back to the job's logs and output folder."""
    for relative, data in returned:
        if relative.startswith(OUTPUTS):
            target = output_dir / relative[len(OUTPUTS):]
            root = output_dir
        else:
            target = job_dir / relative
            root = job_dir / LOGS
        if not target.resolve().is_relative_to(root.resolve()):
            continue  # a worker's name for a file never leaves the job's folders
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "ab") as file:
            file.write(data)
        shipment.count_returned(len(data))


# ----------------------------------------------------------------------- worker side


def worker_root() -> Path:
    """This worker's cache: under Dask's temporary-directory, else the system's."""
    return Path(dask.config.get("temporary-directory", None) or tempfile.gettempdir()) / CACHE


class BundlePlugin(WorkerPlugin):
    """A code or model folder, installed into each worker's cache once per digest."""

    def __init__(self, role: str, digest: str, data: bytes):
        self.role, self.digest, self.data = role, digest, data

    def setup(self, worker=None) -> None:
        install(self.role, self.digest, self.data)


def install(role: str, digest: str, data: bytes) -> Path:
    target = bundle_dir(digest)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=target.parent))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                path = (partial / info.filename).resolve()
                if not path.is_relative_to(partial.resolve()):
                    raise ClusterError(f"bundle {digest[:12]} names a file outside itself: "
                                       f"{info.filename}")
                archive.extract(info, partial)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    path.chmod(mode)
        try:
            os.rename(partial, target)
        except OSError:  # another thread of this worker installed it first
            return target
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    with open(worker_root() / "fetched.log", "a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {role} {digest} "
                  f"{len(data)}\n")
    return target


def bundle_dir(digest: str) -> Path:
    return worker_root() / "bundles" / digest


def localize(ctx: ScoringContext) -> ScoringContext:
    """The job's context as this worker runs it: bundles for code and model, a folder of
    its own for logs, inputs and outputs, and its own Python (or an isolated one it built)."""
    if not ctx.bundles:
        return ctx
    found = {}
    for role, digest in ctx.bundles:
        folder = bundle_dir(digest)
        if not folder.is_dir():
            raise ClusterError(f"the {role} bundle {digest[:12]} of job {ctx.job_name} was "
                               "not delivered to this worker; is it new to the scheduler? "
                               "invoke the job again")
        found[role] = folder
    job_dir = local_job_dir(ctx.job_name)
    output_dir = job_dir / "outputs"
    output_dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    if ctx.environment:
        spec = environments.EnvironmentSpec.from_dict(ctx.environment)
        if spec.mode == environments.ISOLATED:
            python = str(environments.ensure_environment(spec, worker_root(), lambda _: None))
    code_dir = found["code"]
    script = code_dir / Path(ctx.scoring_script).relative_to(ctx.code_dir)
    return replace(ctx, code_dir=str(code_dir), scoring_script=str(script),
                   model_dir=str(found["model"]), job_dir=str(job_dir),
                   output_dir=str(output_dir), python=python)


def local_job_dir(job_name: str) -> Path:
    folder = worker_root() / "jobs" / job_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage_inputs(ctx: ScoringContext, files: tuple[tuple[str, bytes], ...]) -> tuple[str, ...]:
    """Write a lease's input bytes into this worker's job folder, names kept: their paths."""
    root = Path(ctx.job_dir) / "inputs"
    local = []
    for path, data in files:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            partial.write_bytes(data)
            os.replace(partial, target)
        local.append(str(target))
    return tuple(local)


class Returns:
    """What the scoring processes of a job on this worker wrote since it was last asked."""

    def __init__(self, ctx: ScoringContext):
        self.job_dir, self.output_dir = Path(ctx.job_dir), Path(ctx.output_dir)
        self._offsets: dict[Path, int] = {}
        self._lock = threading.Lock()

    def collect(self) -> tuple[tuple[str, bytes], ...]:
        with self._lock:
            found = []
            for root, prefix in ((self.job_dir / "logs", LOGS), (self.output_dir, OUTPUTS)):
                for path in sorted(root.rglob("*")) if root.is_dir() else ():
                    if not path.is_file() or path.name.startswith("."):
                        continue
                    first_sight = path not in self._offsets  # an empty log still shows
                    data = self._new_bytes(path)
                    if data or first_sight:
                        found.append((prefix + path.relative_to(root).as_posix(), data))
            return tuple(found)

    def _new_bytes(self, path: Path) -> bytes:
        offset = self._offsets.get(path, 0)
        try:
            with open(path, "rb") as file:
                file.seek(offset)
                data = file.read()
        except OSError:
            return b""
        self._offsets[path] = offset + len(data)
        return data
