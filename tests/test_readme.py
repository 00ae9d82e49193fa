"""The README's promises: its error excerpts are what the commands print, its commands exist."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXCERPTS = re.findall(r"```\n\$ archspec check (\S+)\n(.*?)\n```", README, re.S)


def test_readme_has_the_two_quickstart_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert 'pip install -c constraints-cpu.txt -e ".[runner]" && runner train specs/quickstart.yaml --out runs/quickstart' in blocks
    test_command = 'pip install -c constraints-cpu.txt -e ".[runner,test]" && python -m pytest'
    assert test_command in blocks
    assert test_command in (ROOT / ".ci" / "run").read_text(), ".ci/run must run exactly the README's test command"


@pytest.mark.parametrize("spec, expected", EXCERPTS, ids=[e[0] for e in EXCERPTS])
def test_readme_error_excerpts_match_the_checker(spec, expected):
    res = subprocess.run([sys.executable, "-m", "archspec", "check", spec], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 1
    assert res.stderr.rstrip("\n") == expected


def test_readme_shows_at_least_two_error_excerpts():
    assert len(EXCERPTS) >= 2
