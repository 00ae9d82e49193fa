"""Other repositories check their specs with this one's pre-commit hook, which installs the
package's core dependencies alone: those must be everything `archspec check` imports, and no torch."""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from runner.cli import RUNNER_EXTRA

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def _name(requirement: str) -> str:
    """``'PyYAML>=6.0; extra == "x"'`` -> ``'pyyaml'`` (PEP 503 normalised)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement)[0]).lower()


def test_hook_runs_archspec_check_from_this_package_on_spec_files():
    (hook,) = HOOKS
    assert hook["id"] == "archspec-check" and hook["language"] == "python" and hook["types"] == ["yaml"]
    program, *args = hook["entry"].split()
    assert PROJECT["scripts"][program] == "archspec.cli:main" and args == ["check"]
    files = re.compile(hook["files"])  # pre-commit matches with re.search
    assert all(
        files.search(p) for p in ("specs/paper_cvae.yaml", "specs/variants/quickstart/free_latent.yaml", "specs/x.yml")
    )
    assert not any(files.search(p) for p in (".github/workflows/ci.yaml", "docs/specs.yaml", "specs/schema.json"))


def test_core_dependencies_are_what_check_imports_and_no_torch():
    core = {_name(r) for r in PROJECT["dependencies"]}
    assert core == {"pydantic", "pyyaml"}
    runner_extra = {_name(r) for r in PROJECT["optional-dependencies"]["runner"]}
    assert "torch" in runner_extra and runner_extra == set(RUNNER_EXTRA)  # the modules runner's CLI names when missing
    allowed = set(core)  # and everything they require, transitively (pydantic -> pydantic-core, ...)
    todo = list(core)
    while todo:
        for req in md.requires(todo.pop()) or []:
            if "extra ==" not in req and _name(req) not in allowed:
                allowed.add(_name(req))
                todo.append(_name(req))
    code = (
        "import sys, json\n"
        "before = set(sys.modules)  # what the interpreter's site hooks loaded, not archspec\n"
        "import archspec.cli\n"
        f"rc = archspec.cli.main(['check', {str(ROOT / 'specs' / 'variants' / 'laptop.yaml')!r}, "
        f"{str(ROOT / 'specs' / 'regression.yaml')!r}])\n"
        "print(json.dumps([rc, sorted({m.split('.')[0] for m in set(sys.modules) - before})]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    rc, modules = json.loads(done.stdout.splitlines()[-1])
    assert rc == 0, done.stderr
    owners = md.packages_distributions()
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m in owners and m != "archspec"}
    dists = {_name(d) for m in third_party for d in owners[m]}
    assert dists <= allowed, (
        f"archspec check imports {sorted(dists - allowed)}, which `pip install archspec-torch` does not install"
    )


def test_runner_without_its_extra_says_which_to_install():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'torch'): raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from runner.cli import main\n"
        f"sys.exit(main(['train', {str(ROOT / 'specs' / 'quickstart.yaml')!r}, '--out', 'never']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert 'is not installed; the runner needs its extra: pip install "archspec-torch[runner]"' in done.stderr
    assert "Traceback" not in done.stderr


# --- the distribution's own name ----------------------------------------------------------------


class _Dist:
    def __init__(self, summary: str):
        self.metadata = {"Summary": summary}


@pytest.mark.parametrize(
    "found, needles",
    [
        (None, None),
        ("Library to query and compare microarchitectures", ["Spack", "conda", "python -m venv .venv"]),
        (
            "Declarative architecture specs for PyTorch: YAML layer tables",
            ["old distribution name", "pip uninstall archspec"],
        ),
    ],
    ids=["alone", "spack", "old-name"],
)
def test_another_archspec_distribution_is_named_once_on_stderr(found, needles, monkeypatch, capsys):
    from archspec.cli import main
    from archspec.language.distribution import clash_warning

    def distribution(name):
        if name != "archspec" or found is None:
            raise md.PackageNotFoundError(name)
        return _Dist(found)

    monkeypatch.setattr(md, "distribution", distribution)
    clash_warning.cache_clear()
    try:
        assert main(["check", str(ROOT / "specs" / "quickstart.yaml")]) == 0
        err = capsys.readouterr().err
    finally:
        clash_warning.cache_clear()
    if needles is None:
        assert err == ""
    else:
        assert err.count("\n") == 1 and all(n in err for n in needles), err


def test_the_distribution_is_not_named_archspec():
    assert PROJECT["name"] == "archspec-torch"  # `archspec` on the index is Spack's, which conda needs
    assert set(PROJECT["scripts"]) == {"archspec", "runner"}  # the commands keep their names
