"""docs/tutorial.md's promises: every command it shows is run, and prints what the tutorial says.

The convention of the tutorial (stated again at the top of docs/tutorial.md):

- a command is a ```bash block of one line, run from the repository root;
- the fenced ```text block right after it is everything the command prints, stdout and stderr
  together as a terminal shows them (run here with PYTHONUNBUFFERED=1 and stderr into stdout);
- the command exits 0, unless an HTML comment ``<!-- exit N -->`` stands on the line above its
  ```bash block (``archspec diff`` exits 1 when the specs differ);
- ``archspec`` and ``runner`` are the console scripts; here they run this checkout's code
  (``sys.executable -m archspec`` / ``-m runner`` behind a script of that name on PATH), and each
  line runs in bash with ``pipefail``, so a pipe in the tutorial runs as written.

Two tests run the commands, in the tutorial's order:

- the quick ones (``archspec ...``, ``cat`` and ``sed``), by default, in a scratch copy of ``specs/``
  without the tutorial's two variants until ``archspec new`` has started one; the test then puts
  the shipped file in its place (the edit the tutorial describes in prose) and checks the rest
  of the output exactly, byte for byte;
- the trainings and the comparison (``runner ...``), marked slow, in a scratch folder holding a
  copy of ``specs/`` (so ``runs/tutorial/...`` lands there) with a fresh mock-data cache, as the
  tutorial's own run had. Their numbers come from one real run on one machine and differ on
  another (timings always; losses with the CPU's arithmetic), so the comparison masks every
  number (``NUMBER`` below: digits with thousands commas, a decimal part, an exponent, a sign)
  on both sides and compares the rest exactly: the lines, the words, the table's columns.

A third test holds every ```bash block of the tutorial to one of the two, so a command added to
the tutorial without being run here fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
QUICK = ("archspec", "cat", "sed")  # first words of the commands the default test runs
SLOW = ("runner",)  # ... and of those the slow test runs
VARIANTS = ("specs/variants/free_latent.yaml", "specs/variants/quickstart/free_latent.yaml")
NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
PAIR = re.compile(r"(?:<!-- exit (\d+) -->\n)?```bash\n(.*?)\n```\n\n?```text\n(.*?)```", re.S)


def steps(text: str) -> list[tuple[str, str, int]]:
    """(command, expected output, exit status) of each ```bash block with its ```text block."""
    return [(command, output.rstrip("\n"), int(code or 0)) for code, command, output in PAIR.findall(text)]


STEPS = steps(TUTORIAL.read_text())


def _program(command: str) -> str:
    return command.split()[0]


def _shims(folder: Path) -> dict[str, str]:
    """An environment whose ``archspec`` and ``runner`` are this checkout's, output unbuffered."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("archspec", "runner"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {name} "$@"\n')
        script.chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{folder}{os.pathsep}{os.environ['PATH']}",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.pop("COLUMNS", None)
    return env


def _run(command: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


PRECISION = re.compile(r"\b(?:bf16|fp32)\b")  # the default precision: bf16 where the CPU has it natively, else fp32


def _masked(text: str) -> str:
    return NUMBER.sub("N", PRECISION.sub("PRECISION", text))


def test_masking_hides_numbers_and_the_precision_the_cpu_chose():
    assert _masked("| quickstart | cvae | bf16 | 87,891 | -2.766 |") == _masked(
        "| quickstart | cvae | fp32 | 88,000 | 1e-3 |"
    )
    assert _masked("bf16 x") != _masked("tf32 x")


def test_the_parser_reads_the_convention():
    text = (
        "x\n```bash\na b\n```\n```text\nout\n```\n<!-- exit 1 -->\n```bash\nc\n```\n\n```text\n1\n2\n```\n"
        "```bash\nno output block\n```\nprose\n"
    )
    assert steps(text) == [("a b", "out", 0), ("c", "1\n2", 1)]
    assert _masked("| 87,891 | -3.08 | 1.2e-04 | k<2 |") == "| N | N | N | k<N |"


def test_every_command_of_the_tutorial_is_run_by_a_test():
    text = TUTORIAL.read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert [c for c, _, _ in STEPS] == blocks, "every ```bash block needs its ```text block of output right after it"
    for command in blocks:
        assert "\n" not in command, f"one command per ```bash block: {command!r}"
        assert _program(command) in QUICK + SLOW, f"no test runs {command!r}: start it with one of {QUICK + SLOW}"
    slow = [c for c in blocks if _program(c) in SLOW]
    assert [c.split()[:2] for c in slow] == [["runner", "train"], ["runner", "train"], ["runner", "compare"]]
    for variant in VARIANTS:
        assert any(variant in c for c in blocks if c.startswith("archspec diff")), f"the tutorial diffs {variant}"


def test_quick_commands_print_what_the_tutorial_shows(tmp_path):
    """check, show, diff, new and cat: exactly, in order, in a scratch copy of specs/."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    for variant in VARIANTS:
        (tmp_path / variant).unlink()  # the tutorial writes them
    env = _shims(tmp_path / "bin")
    quick = [s for s in STEPS if _program(s[0]) in QUICK]
    assert any(c.startswith("archspec new ") for c, _, _ in quick)
    for command, expected, code in quick:
        res = _run(command, tmp_path, env, timeout=300)
        assert (res.stdout.rstrip("\n"), res.returncode) == (expected, code), command
        if command.startswith("archspec new "):
            made = command.split()[2]
            assert made in VARIANTS and "extends: " in (tmp_path / made).read_text()
            shutil.copy(ROOT / made, tmp_path / made)  # the reader writes the rows the tutorial shows
    for variant in VARIANTS:
        assert (tmp_path / variant).read_bytes() == (ROOT / variant).read_bytes(), (
            f"the tutorial never starts {variant} with archspec new"
        )
        assert f"cat {variant}" in [c for c, _, _ in quick], f"the tutorial never shows {variant} whole"


@pytest.mark.slow
def test_trainings_and_comparison_print_what_the_tutorial_shows(tmp_path):
    """The two quickstart-scale trainings and `runner compare`, verbatim; numbers masked."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    env = _shims(tmp_path / "bin")
    env["ARCHSPEC_CACHE"] = str(tmp_path / "cache")  # the tutorial's run generated its mock store too
    for command, expected, code in [s for s in STEPS if _program(s[0]) in SLOW]:
        res = _run(command, tmp_path, env, timeout=3 * 3600)  # a guard against a hang, not a speed test
        assert res.returncode == code, res.stdout
        assert _masked(res.stdout.rstrip("\n")) == _masked(expected), command
    compare = tmp_path / "runs" / "tutorial" / "compare"
    assert {"table.md", "table.csv", "table.json", "compare.png"} <= {p.name for p in compare.iterdir()}
