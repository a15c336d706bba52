"""Python environments for scoring processes: requirement checks and isolated venvs (uv).

Default mode (``current``): scoring processes use the interpreter that runs the job; the
deployment's requirements (the pip section of ``environment.conda_file``, or an MLflow
model's ``requirements.txt`` / ``conda.yaml``) are compared with it and every unmet or
conflicting one is reported. It warns; it never fails a job.

Isolated mode: one virtual environment per distinct requirement set, built with ``uv`` under
``<home>/environments/<hash>/`` and reused; concurrent jobs needing the same set build it
once (a file lock). An overrides file in pip syntax pins or replaces requirements that cannot
be installed on this Python without editing the deployment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from emulator import settings
from emulator.exceptions import EmulatorError, EnvironmentBuildError
from emulator.workspace.config import read_defaults

# A requirement met by another distribution: the emulator's [mlflow] extra installs
# mlflow-skinny, which provides the same ``mlflow`` package (pyfunc, the flavors).
SATISFIED_BY = {"mlflow": ("mlflow-skinny",)}
ISOLATED_EXTRA = "pip install 'batch-endpoint-emulator[isolated]'"

CURRENT = "current"
ISOLATED = "isolated"
MODES = (CURRENT, ISOLATED)
BUILD_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class EnvironmentSpec:
    """What a deployment asks of Python: pip requirements, conda-only packages, Python."""

    pip: tuple[str, ...] = ()
    conda: tuple[str, ...] = ()  # conda (not pip) dependencies other than python
    python: str | None = None  # python=3.8 from a conda file
    source: str = ""
    mode: str = CURRENT
    overrides: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"pip": list(self.pip), "conda": list(self.conda), "python": self.python,
                "source": self.source, "mode": self.mode, "overrides": list(self.overrides)}

    @classmethod
    def from_dict(cls, values: dict) -> EnvironmentSpec:
        return cls(pip=tuple(values["pip"]), conda=tuple(values["conda"]),
                   python=values["python"], source=values["source"], mode=values["mode"],
                   overrides=tuple(values["overrides"]))

    @property
    def requirements(self) -> list[str]:
        """The pip requirements with the overrides applied."""
        return apply_overrides(self.pip, self.overrides)


# ------------------------------------------------------------------------------ reading


def from_conda_file(path: str | Path) -> EnvironmentSpec:
    import yaml  # a conda file is read by a job, not by a read of the service

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise EmulatorError(f"cannot read conda file {path}: {exc}") from None
    pip: list[str] = []
    conda: list[str] = []
    python = None
    for dependency in document.get("dependencies") or []:
        if isinstance(dependency, dict):
            pip.extend(str(item) for item in dependency.get("pip") or [])
            continue
        text = str(dependency).split("::")[-1].strip()
        name = re.split(r"[=<>!~ ]", text, maxsplit=1)[0]
        if name == "python":
            python = text[len("python"):].lstrip("=") or None
        elif name != "pip":
            conda.append(text)
    return EnvironmentSpec(pip=tuple(pip), conda=tuple(conda), python=python, source=str(path))


def from_requirements_file(path: str | Path) -> EnvironmentSpec:
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    pip = tuple(line for line in lines if line and not line.startswith(("#", "-")))
    return EnvironmentSpec(pip=pip, source=str(path))


def from_mlflow_model(model_dir: str | Path) -> EnvironmentSpec | None:
    """An MLflow model's own requirements: ``requirements.txt``, else ``conda.yaml``."""
    model_dir = Path(model_dir)
    if (model_dir / "requirements.txt").is_file():
        return from_requirements_file(model_dir / "requirements.txt")
    if (model_dir / "conda.yaml").is_file():
        return from_conda_file(model_dir / "conda.yaml")
    return None


def read_overrides(path: str | Path | None) -> tuple[str, ...]:
    if not path:
        return ()
    try:
        return from_requirements_file(path).pip
    except OSError as exc:
        raise EmulatorError(f"cannot read the requirements overrides file {path}: "
                            f"{exc.strerror}; fix requirements_overrides") from None


def apply_overrides(requirements: tuple[str, ...] | list[str],
                    overrides: tuple[str, ...] | list[str]) -> list[str]:
    """A line of ``overrides`` naming a package replaces the requirement for it; others add."""
    by_name = {_name(line): line for line in overrides}
    result = [by_name.pop(_name(line), line) if _name(line) in by_name else line
              for line in requirements]
    return result + [line for line in overrides if _name(line) in by_name]


def _name(line: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement  # see check()
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return line.strip().lower()


# ------------------------------------------------------------------------------ checking


def check(spec: EnvironmentSpec) -> list[str]:
    """One line per requirement the current interpreter does not satisfy (empty: all met)."""
    # platform, packaging and importlib.metadata cost a read of the service 20 ms: imported
    # where requirements are checked
    import platform

    from packaging.requirements import InvalidRequirement, Requirement

    problems = []
    running = platform.python_version()
    if spec.python and not _python_matches(spec.python, running):
        problems.append(f"{spec.source} asks for python {spec.python}; scoring processes run "
                        f"Python {running} (the emulator does not install other Pythons)")
    for line in spec.requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            problems.append(f"requirement {line!r} from {spec.source} is not valid pip syntax")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        installed = _installed_version(requirement.name)
        if installed is None:
            problems.append(f"requirement {line} is not installed in {sys.executable}")
            continue
        if requirement.specifier and not requirement.specifier.contains(installed,
                                                                         prereleases=True):
            problems.append(f"requirement {line} conflicts with the installed "
                            f"{requirement.name} {installed}")
    for package in spec.conda:
        problems.append(f"conda package {package} from {spec.source} is conda-only here: "
                        "the emulator installs pip packages only; add a pip equivalent to the "
                        "requirements overrides if the script needs it")
    return problems


def _installed_version(name: str) -> str | None:
    """The installed version of ``name``, or of a distribution that provides it."""
    from importlib import metadata  # see check()

    from packaging.utils import canonicalize_name

    for candidate in (name, *SATISFIED_BY.get(canonicalize_name(name), ())):
        try:
            return metadata.version(candidate)
        except metadata.PackageNotFoundError:
            continue
    return None


def _python_matches(wanted: str, running: str) -> bool:
    from packaging.requirements import InvalidRequirement, Requirement  # see check()

    wanted = wanted.strip().lstrip("=")
    if wanted[:1].isdigit():
        return running == wanted or running.startswith(wanted.rstrip(".*") + ".")
    try:
        return Requirement(f"python{wanted}").specifier.contains(running)
    except InvalidRequirement:
        return True


# ------------------------------------------------------------------------------ isolated


def environment_key(spec: EnvironmentSpec, python: str = sys.executable) -> str:
    """Content hash of what the venv holds: the interpreter and the sorted requirements."""
    content = json.dumps({"python": _interpreter_version(python),
                          "requirements": sorted(spec.requirements)})
    return hashlib.sha256(content.encode()).hexdigest()[:20]


def _interpreter_version(python: str) -> str:
    if python == sys.executable:
        import platform  # see check()

        return platform.python_version()
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def ensure_environment(spec: EnvironmentSpec, home: Path, log=print) -> Path:
    """The python of a venv holding ``spec``'s requirements: from the cache, else built."""
    root = home / "environments"
    key = environment_key(spec)
    target = root / key
    python = target / "bin" / "python"
    if (target / "ready").exists():
        return python
    uv = _uv()  # before anything is logged or locked: without uv, one line and no build
    root.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock  # only a build takes the lock: reads skip the import

    with FileLock(root / f"{key}.lock"):
        if (target / "ready").exists():  # another job built it while we waited
            log(f"environment {key}: built by another job meanwhile; reusing it")
            return python
        log(f"environment {key}: building with uv ({len(spec.requirements)} requirement(s))")
        started = time.monotonic()
        _build(spec, target, uv)
        log(f"environment {key}: built in {time.monotonic() - started:.1f} s")
    return python


def _uv() -> str:
    try:  # the optional 'isolated' extra: uv's wheel carries its binary; else uv on PATH
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvironmentBuildError(f"environment_mode=isolated needs uv, which is not installed: "
                                f"{ISOLATED_EXTRA} (or put uv on PATH), or use "
                                "environment_mode=current")


def _build(spec: EnvironmentSpec, target: Path, uv: str) -> None:
    """Build in place under the lock; ``ready`` is written last, so a half-built venv (a crash,
    a kill) has none and is rebuilt from scratch by the next job."""
    shutil.rmtree(target, ignore_errors=True)
    try:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(target)], spec)
        requirements = target / "requirements.txt"
        requirements.write_text("\n".join(spec.requirements) + "\n", encoding="utf-8")
        if spec.requirements:
            _run([uv, "pip", "install", "--quiet", "--python", str(target / "bin" / "python"),
                  "-r", str(requirements)], spec)
        (target / "ready").write_text(json.dumps(spec.requirements), encoding="utf-8")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _run(command: list[str], spec: EnvironmentSpec) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS,
                            env={**os.environ, "UV_NO_PROGRESS": "1"})
    if result.returncode == 0:
        return
    message = (result.stderr or result.stdout).strip()
    culprit = next((line for line in spec.requirements
                    if _name(line) and re.search(rf"\b{re.escape(_name(line))}\b",
                                                 message.lower().replace("_", "-"))), None)
    what = f"requirement {culprit}" if culprit else f"requirements from {spec.source}"
    raise EnvironmentBuildError(
        f"cannot build the isolated environment: {what} could not be installed "
        f"({_first_line(message)}); pin or replace it in the requirements overrides file "
        "(configure --defaults requirements_overrides=PATH)", message)


def _first_line(message: str) -> str:
    decoration = " \u00d7\u2570\u2500\u25b6"  # uv's box-drawing prefixes
    lines = [line.strip(decoration) for line in message.splitlines() if line.strip(decoration)]
    return "; ".join(lines[:2]) if lines else "no message"


def spec_for(home: Path, conda_file: Path | None = None,
             mlflow_model: Path | None = None) -> EnvironmentSpec | None:
    """The requirements a job must honour, with this home's mode and overrides applied.

    A conda file (from the deployment's environment) wins; an MLflow model without an
    environment brings its own requirements; otherwise there is nothing to check.
    """
    if conda_file is not None:
        spec = from_conda_file(conda_file)
    elif mlflow_model is not None:
        spec = from_mlflow_model(mlflow_model)
    else:
        return None
    if spec is None:
        return None
    configured = read_defaults(home)
    return with_mode(spec, mode_from(configured.get("environment_mode")),
                     overrides_path(configured.get("requirements_overrides")))


def mode_from(configured: str | None) -> str:
    mode = settings.environment_mode() or configured or CURRENT
    if mode not in MODES:
        raise EmulatorError(f"environment_mode {mode!r} is not one of {', '.join(MODES)}; fix "
                            "BATCH_EMULATOR_ENVIRONMENT_MODE or configure --defaults")
    return mode


def overrides_path(configured: str | None) -> str | None:
    return settings.requirements_overrides() or configured


def with_mode(spec: EnvironmentSpec, mode: str, overrides_file: str | None) -> EnvironmentSpec:
    return replace(spec, mode=mode, overrides=read_overrides(overrides_file))
