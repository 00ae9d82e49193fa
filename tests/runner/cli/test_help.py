"""Every command's --help answers at once: it imports neither torch nor the science stack (the
imports that take seconds), only argparse and the light modules the options need."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runner.cli import SUBCOMMANDS

HEAVY = ("torch", "matplotlib", "scipy", "h5py", "colossus", "powerbox", "pyccl")
PROBE = """
import contextlib, io, json, sys
from {module} import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main({argv!r})
    except SystemExit:
        pass
print(json.dumps([sorted(m for m in {heavy!r} if m in sys.modules), out.getvalue()]))
"""


def _help(module: str, argv: list[str]) -> tuple[list[str], str]:
    code = PROBE.format(module=module, argv=argv, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    loaded, text = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded, text


@pytest.mark.parametrize("command", [[], *([name] for name in SUBCOMMANDS)], ids=lambda c: " ".join(["runner", *c]))
def test_runner_help_imports_nothing_heavy(command):
    loaded, text = _help("runner.cli", [*command, "--help"])
    assert loaded == [] and "usage: runner" in text


@pytest.mark.parametrize(
    "command", [[], ["check"], ["show"], ["diff"], ["schema"]], ids=lambda c: " ".join(["archspec", *c])
)
def test_archspec_help_imports_nothing_heavy(command):
    loaded, text = _help("archspec.cli", [*command, "--help"])
    assert loaded == [] and "usage: archspec" in text
