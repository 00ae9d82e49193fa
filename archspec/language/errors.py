"""Errors as data: every problem in a spec is a :class:`Problem`, collected and reported once.

A problem knows its code (machine-readable), its ``loc`` (the path of the offending node, e.g.
``('model', 'networks', 'generator', 'A', 'table', 1)``), the file, line and column of that node,
a message that says what was expected and what was found, and a fix where one exists. ``fixes``
holds fixes as data (:class:`archspec.fixing.fixes.Fix`: edits of the spec), each one checked before it
is offered (:mod:`archspec.fixing.repair`), best first; ``fix`` is the text a person reads.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

Loc = tuple  # tuple[str | int, ...]


def format_loc(loc: Sequence[object]) -> str:
    """``('model', 'networks', 'A', 'table', 1)`` -> ``model.networks.A.table[1]``."""
    text = ""
    for item in loc:
        if isinstance(item, int) and not isinstance(item, bool):
            text += f"[{item}]"
        else:
            text += ("." if text else "") + str(item)
    return text or "(root)"


@dataclass(frozen=True)
class Problem:
    code: str
    loc: Loc
    message: str
    fix: str | None = None
    file: str = "<spec>"
    line: int | None = None  # 1-based; None: not placed yet; 0: from the command line, not a file
    col: int | None = None
    severity: str = "error"  # or "warning": reported, but the spec is still valid
    fixes: tuple = ()  # tuple[archspec.fixing.fixes.Fix, ...]: checked edits, best first
    row: tuple | None = None  # shape problems: the YAML path of the row whose arithmetic failed (a block's row too)
    ctx: tuple = ()  # ((name, value), ...): the numbers the message states, for fixes and tools (pydantic's ctx)

    def at(self, file: str, line: int, col: int) -> Problem:
        return replace(self, file=file, line=line, col=col)

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file  # line 0: from the command line
        head = f"{where}: {self.severity}: {format_loc(self.loc)}: {self.message}"
        return head + (f"\n    fix: {self.fix}" if self.fix else "")


class SpecError(Exception):
    """One or more problems in a spec, reported together."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.col or 0, p.code))
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.problems)
        lines = [p.format() for p in self.problems]
        lines.append(f"{n} error{'s' if n != 1 else ''} in {_files(self.problems)}")
        return "\n".join(lines)


def _files(problems: Sequence[Problem]) -> str:
    names = sorted({p.file for p in problems})
    return ", ".join(names) if names else "the spec"


def did_you_mean(name: object, known: Iterable[str]) -> str | None:
    """A suggestion for a misspelt name, or None when nothing is close."""
    known = sorted(set(known))
    matches = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    if not matches:  # case slips (relu -> ReLU) are the commonest typo; difflib undervalues them
        matches = [k for k in known if k.lower() == str(name).lower()]
    return f"did you mean '{matches[0]}'?" if matches else None


def suggested_name(fix: str | None) -> str | None:
    """The name a :func:`did_you_mean` fix suggests ('did you mean 'Conv'?' -> 'Conv'), else None."""
    match = re.fullmatch(r"did you mean '(.+)'\?", fix or "")
    return match.group(1) if match else None


def one_of(known: Iterable[str]) -> str:
    return ", ".join(sorted(set(known)))
