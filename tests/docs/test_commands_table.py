"""README's commands table lists every option of every command, as argparse defines them: a flag
added to a command and not to the table fails here (issue: the table lacked --label,
--sync-every, --eval-in-background and sweep's --gpus)."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from archspec.cli import _parser as archspec_parser
from runner.cli import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
TABLE = (ROOT / "README.md").read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]


def _rows(command: str) -> str:
    """The command cells of the table's rows for ``command`` (e.g. 'runner data'), joined."""
    cells = [line.split(" | ")[0] for line in TABLE.splitlines() if re.match(rf"\| `{re.escape(command)}[ `]", line)]
    assert cells, f"README's commands table has no row for {command}"
    return " ".join(cells)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    found = set()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        found.update(o for o in action.option_strings if o.startswith("--"))
    return found


def _listed(flag: str, text: str) -> bool:
    """--x is listed as --x, or as --[no-]x for a switch written both ways."""
    name = flag.removeprefix("--").removeprefix("no-")
    return re.search(rf"--(\[no-\])?{re.escape(name)}\b", text) is not None or f"--no-{name}" in text


def _archspec_commands():
    sub = next(a for a in archspec_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [(f"archspec {name}", p) for name, p in sub.choices.items()]


def _runner_commands():
    out = []
    for name, (module_name, _) in SUBCOMMANDS.items():
        parser = argparse.ArgumentParser(prog=f"runner {name}")
        importlib.import_module(module_name).add_arguments(parser)
        sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if sub:  # runner data mock | import-npy | info | prepare
            out += [(f"runner {name} {n}", p) for n, p in sub[0].choices.items()]
        else:
            out.append((f"runner {name}", parser))
    return out


@pytest.mark.parametrize("command, parser", _archspec_commands() + _runner_commands(), ids=lambda c: str(c))
def test_every_option_of_every_command_is_in_the_readme_table(command, parser):
    text = _rows(command)
    missing = sorted(f for f in _flags(parser) if not _listed(f, text))
    assert not missing, f"README's row for `{command}` lacks {missing}"
    optional = {o for a in parser._actions if not a.required for o in a.option_strings if o.startswith("--")}
    shown_required = sorted(f for f in optional if re.search(rf"(?<![\[\]]){re.escape(f)}\b", text))
    assert not shown_required, f"README's row for `{command}` shows {shown_required} as required (write [...])"


@pytest.mark.parametrize("command, parser", _archspec_commands() + _runner_commands(), ids=lambda c: str(c))
def test_every_positional_says_what_it_is(command, parser):
    """Issue 21 item 12: `COMMAND --help` describes every positional, not just its name."""
    bare = [
        a.metavar or a.dest
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction) and not a.help
    ]
    assert not bare, f"`{command} --help` gives no help for {bare}"


def test_runner_help_speaks_to_users():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "runner", "--help"], capture_output=True, text=True).stdout
    assert "wiring" not in out and "module" not in out
    assert "Train, paint, evaluate and compare" in out
