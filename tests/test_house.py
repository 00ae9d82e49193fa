"""The architecture as rules on the import graph (lazy imports inside functions included):
no import cycle; only command-line modules import command-line modules; science never imports
training; archspec never imports the runner. A new module that breaks a rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("archspec", "runner"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                module = ".".join(parts[: len(parts) - node.level + 1]) + (f".{node.module}" if node.module else "")
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{a.name}" for a in node.names)
    # a package's own namespace (its __init__ re-exporting) is not an edge
    return {m for m in out if m in MODULES and m != name and not name.startswith(m + ".")}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle_from(start: str) -> list[str] | None:
    stack, seen = [(start, [start])], set()
    while stack:
        node, trail = stack.pop()
        for nxt in GRAPH[node]:
            if nxt == start:
                return trail + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, trail + [nxt]))
    return None


def test_the_graph_is_read():
    assert "runner.train.recipe" in GRAPH and "runner.kinds" in GRAPH["runner.train.recipe"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_cycle(module):
    assert _cycle_from(module) is None, " -> ".join(_cycle_from(module))


def _is_cli(name: str) -> bool:
    return name.startswith("runner.cli") or name == "archspec.cli"


def test_only_command_line_modules_import_command_line_modules():
    bad = [
        (a, b)
        for a, deps in GRAPH.items()
        for b in deps
        if _is_cli(b) and not _is_cli(a) and a not in ("runner.__main__", "archspec.__main__")
    ]
    assert not bad


def test_science_never_imports_training():
    assert not [
        (a, b)
        for a, deps in GRAPH.items()
        for b in deps
        if a.startswith("runner.science") and b.startswith("runner.train")
    ]


def test_archspec_never_imports_the_runner_and_only_the_compiler_imports_torch():
    assert not [
        (a, b) for a, deps in GRAPH.items() for b in deps if a.startswith("archspec") and b.startswith("runner")
    ]
    for name, path in MODULES.items():
        if name.startswith("archspec") and name != "archspec.compile":
            nodes = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))]
            names = {a.name for n in nodes if isinstance(n, ast.Import) for a in n.names} | {
                n.module for n in nodes if isinstance(n, ast.ImportFrom)
            }  # lazy imports inside functions too: `archspec.__init__.build` reaches torch through the compiler
            assert not any(str(m).split(".")[0] == "torch" for m in names), name


def test_archspec_check_runs_without_importing_torch():
    import subprocess
    import sys

    code = "import sys; from archspec.cli import main; main(['check', 'specs/paper_cvae.yaml']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr


# archspec's subpackages by concept, lowest first: each imports only those before it. The one
# edge upwards, decided and named here: loading asks the fix search for checked fixes (lazily,
# only for a spec with problems), so that every error `archspec.load` raises comes with its fix.
LAYERS = ("language", "text", "composition", "checking", "fixing", "presenting")
UPWARD = {("archspec.checking.load", "archspec.fixing.repair"), ("archspec.checking.load", "archspec.fixing.yamlhints")}


def _layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_archspec_is_arranged_by_concept_and_its_layers_only_import_downwards():
    top = {p.stem for p in (ROOT / "archspec").glob("*.py")}
    assert top == {"__init__", "__main__", "cli", "compile"}, (
        "a module at archspec/'s top: put it in its concept's package"
    )
    assert {p.name for p in (ROOT / "archspec").iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)
    upward = {
        (a, b)
        for a, deps in GRAPH.items()
        for b in deps
        if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)
    }
    assert upward == UPWARD
    lower = [
        (a, b)
        for a, deps in GRAPH.items()
        if _layer(a) is not None
        for b in deps
        if b in ("archspec.cli", "archspec.compile")
    ]
    assert not lower, "the command line and the compiler sit above every package"


def test_tests_mirror_the_source():
    """tests/archspec/checking/ tests archspec/checking/, tests/runner/train/ runner/train/, tests/docs/
    the documents; only the project-wide rules sit at tests/ itself."""
    tests = ROOT / "tests"
    at_top = {p.name for p in tests.glob("test_*.py")}
    assert at_top == {"test_house.py", "test_security.py", "test_precommit.py"}
    for path in tests.rglob("test_*.py"):
        folder = path.parent.relative_to(tests)
        if folder.parts:
            assert (ROOT / folder).is_dir(), f"{path.relative_to(ROOT)}: no source folder {folder} to mirror"
