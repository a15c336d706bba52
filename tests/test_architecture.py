"""The shape ARCHITECTURE.md describes, checked: layers import only downwards, the front ends
reach the package only through the service, no import cycle, a small package face, and every
import inside a function says why it is there."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "emulator"
# Code that runs in the user's scoring process (and the demo's own scoring script), not ours.
SCORING_PROCESS_SIDE = ("emulator.scoring.shim", "emulator.scoring.mlflow_driver",
                        "emulator.demo")

# A layer may import itself and the layers listed for it (and nothing above).
FOUNDATION = {"emulator.exceptions", "emulator.settings"}
LAYERS = {
    "emulator.scoring": set(),
    "emulator.model": FOUNDATION,
    "emulator.workspace": FOUNDATION | {"emulator.model", "emulator.scoring"},
    "emulator.engine": FOUNDATION | {"emulator.model", "emulator.workspace", "emulator.scoring"},
    "emulator.jobs": FOUNDATION | {"emulator.model", "emulator.workspace", "emulator.engine",
                                   "emulator.scoring"},
    "emulator.service": FOUNDATION | {"emulator.model", "emulator.workspace", "emulator.engine",
                                      "emulator.jobs", "emulator.scoring"},
}
# The front ends ("skins"): the service, the documents' model, the foundation, each other
# (``batch-emulator serve`` starts the server).
SKINS = ("emulator.cli", "emulator.server", "emulator.testing", "emulator.azure")
SKIN_MAY_IMPORT = FOUNDATION | {"emulator.service", "emulator.model", *SKINS}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    in_function: bool
    type_checking: bool
    reason: str  # a comment on the line, or on the line above


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")
           if not module_name(p).startswith(SCORING_PROCESS_SIDE)}


def imports_of(name: str) -> list[Import]:
    path = MODULES[name]
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[Import] = []

    reasons: dict[int, str] = {}  # line of an import -> its reason

    def reason(node: ast.AST) -> str:
        """A comment on the import's line or the line above; imports in a row share one."""
        here = lines[node.lineno - 1]
        above = lines[node.lineno - 2] if node.lineno > 1 else ""
        if "#" in here:
            found = here.split("#", 1)[1]
        elif "#" in above:
            found = above.split("#", 1)[1]
        else:
            previous = max((line for line in reasons if line < node.lineno), default=0)
            between = lines[previous:node.lineno - 1]
            found = reasons.get(previous, "") if all(
                not text.strip() or text.strip().startswith(("from ", "import ", ")"))
                or (text.startswith("    ") and not text.strip().endswith(":"))
                for text in between) else ""
        reasons[node.lineno] = found
        return found

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        # `from package import submodule` depends on the submodule, not on the package face
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in targets(child):
                    found.append(Import(name, target, child.lineno, in_function, type_checking,
                                        reason(child)))
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            guarded = type_checking or (isinstance(child, ast.If)
                                        and "TYPE_CHECKING" in ast.unparse(child.test))
            visit(child, nested, guarded)

    visit(ast.parse(source), False, False)
    return found


ALL_IMPORTS = [i for name in sorted(MODULES) for i in imports_of(name)]
PACKAGE_IMPORTS = [i for i in ALL_IMPORTS if i.target.split(".")[0] == "emulator"]


def layer_of(module: str) -> str | None:
    return next((layer for layer in (*LAYERS, *SKINS, *FOUNDATION)
                 if module == layer or module.startswith(layer + ".")), None)


def test_the_front_ends_reach_the_package_only_through_the_service():
    wrong = [f"{i.importer}:{i.line} imports {i.target}" for i in PACKAGE_IMPORTS
             if layer_of(i.importer) in SKINS and i.target != "emulator"
             and layer_of(i.target) not in (*SKIN_MAY_IMPORT, layer_of(i.importer))]
    assert not wrong, "front ends import below the service:\n" + "\n".join(wrong)


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(layer):
    wrong = [f"{i.importer}:{i.line} imports {i.target}" for i in PACKAGE_IMPORTS
             if layer_of(i.importer) == layer and not i.type_checking
             and layer_of(i.target) not in (LAYERS[layer] | {layer})]
    assert not wrong, f"{layer} imports a layer above it:\n" + "\n".join(wrong)


def test_there_is_no_import_cycle():
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for i in PACKAGE_IMPORTS:
        # a module importing its own package's face is no cycle
        if not i.in_function and not i.type_checking and i.target in MODULES \
                and not i.importer.startswith(i.target + "."):
            graph[i.importer].add(i.target)
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_top_level_keeps_only_the_package_face():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "azure.py", "exceptions.py", "settings.py"]


def test_every_import_inside_a_function_says_why():
    silent = [f"{i.importer}:{i.line} imports {i.target}" for i in ALL_IMPORTS
              if i.in_function and not i.type_checking and not i.reason.strip()]
    assert not silent, ("imports inside functions need a reason (a fast command, an optional "
                        "extra) in a comment:\n" + "\n".join(silent))


def test_environment_variables_are_read_in_the_settings_module_only():
    readers = []
    for name, path in MODULES.items():
        if name in ("emulator.settings",) or name.startswith("emulator.scoring"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "os.environ.get(" in line or "os.getenv(" in line or "os.environ[" in line:
                readers.append(f"{name}:{number}: {line.strip()}")
    assert not readers, "read environment variables through emulator.settings:\n" + \
        "\n".join(readers)
