"""The README's promises: its error excerpts are what the commands print, its commands exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXCERPTS = re.findall(r"```\n\$ archspec check ([^\n]+)\n(.*?)\n```", README, re.S)


def test_readme_has_the_two_quickstart_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert (
        'pip install -c constraints-cpu.txt -e ".[runner]" && runner train specs/quickstart.yaml --out runs/quickstart'
        in blocks
    )
    test_command = 'pip install -c constraints-cpu.txt -e ".[runner,test]" && python -m pytest'
    assert test_command in blocks
    assert test_command in (ROOT / ".ci" / "run").read_text(), ".ci/run must run exactly the README's test command"


@pytest.mark.parametrize("args, expected", EXCERPTS, ids=[e[0] for e in EXCERPTS])
def test_readme_check_excerpts_match_the_checker(args, expected):
    """What `archspec check ...` prints (the diff and summary on stdout, errors on stderr); an
    excerpt that ends valid exits 0, one with errors 1. --fix excerpts are dry runs: the examples
    stay broken on purpose."""
    argv = args.split()
    assert "--fix" not in argv or "--dry-run" in argv
    res = subprocess.run(
        [sys.executable, "-m", "archspec", "check", *argv], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    assert (res.stdout + res.stderr).rstrip("\n") == expected
    assert res.returncode == (0 if re.search(r": ok \(", expected.splitlines()[-1]) else 1)


def test_readme_shows_errors_and_their_fixes():
    commands = [args for args, _ in EXCERPTS]
    assert sum("--fix" not in c for c in commands) >= 2
    assert any(c.startswith("--fix --dry-run examples/") for c in commands)
