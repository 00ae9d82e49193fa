"""docs/variants.md's promises: its excerpts are what the commands print, its table what the specs cost."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.presenting.show import summary_data

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "variants.md").read_text()
EXCERPTS = re.findall(r"```\n\$ archspec (check|diff) ([^\n]+)\n(.*?)\n```", DOC, re.S)
TABLE = re.findall(r"^\| `(\w+)`[^|]*\|[^|]*\| ([^|]+) \| ([^|]+) \|$", DOC, re.M)


def test_the_doc_shows_check_and_diff():
    assert sorted({command for command, _, _ in EXCERPTS}) == ["check", "diff"] and len(EXCERPTS) >= 3


@pytest.mark.parametrize("command, args, expected", EXCERPTS, ids=[f"{c} {a}" for c, a, _ in EXCERPTS])
def test_excerpt_is_what_the_command_prints(command, args, expected):
    res = subprocess.run(
        [sys.executable, "-m", "archspec", command, *args.split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1  # an invalid spec; specs that differ
    assert (res.stderr if command == "check" else res.stdout).rstrip("\n") == expected


def _cost(name: str) -> tuple[int, int]:
    path = ROOT / "specs" / ("paper_cvae.yaml" if name == "paper_cvae" else f"variants/{name}.yaml")
    data = summary_data(archspec.load(path))
    return data["params"], data["macs"]


@pytest.mark.parametrize("name, params, macs", TABLE, ids=[row[0] for row in TABLE])
def test_table_of_variants_says_what_each_costs(name, params, macs):
    base_params, base_macs = _cost("paper_cvae")
    own_params, own_macs = _cost(name)
    if params.strip() == "unchanged":
        assert own_params == base_params
    elif params.startswith("−"):
        assert own_params == base_params - int(params[1:].replace(",", ""))
    else:
        assert own_params == int(params.split()[0].replace(",", ""))
    if macs.strip() == "unchanged":
        assert own_macs == base_macs
    else:
        assert f"{own_macs / 1e9:.2f} G" == macs.split(" (")[0].strip()
    assert len(TABLE) == 7
