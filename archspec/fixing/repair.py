"""Fixes that work: every fix shown has been applied to the spec and the spec checked again.

For each problem, :mod:`archspec.fixing.candidates` proposes edits; each is applied to a copy of the
spec's data and the whole spec is checked again (form, names, shapes of every network). A
candidate is kept when, after it, that problem is gone and no problem is there that was not
there before (problems of a later stage, which the first could hide, are not counted against
it: they are found and fixed in turn). Kept fixes are ranked:

1. fewest cells changed;
2. fewest rows left dropping input pixels (a size that only works out by leaving pixels unread);
3. most evidence that the edit restores what was meant: a typo usually makes a row unlike the
   spec's other rows and brings a value the rest of the spec never uses, so an edit after which
   the row equals more of the spec's rows ranks first (``[Conv, 8/12, 8, 4]`` -> ``8/16``, the
   row of every other branch), then one that replaces a rare value by a common one (``8/16``
   in a spec full of 16s, rather than ``32/2`` -> ``28/2`` downstream);
4. nearest to where the error was found (its own cell, then its table);
5. the order the candidates came in.

When the best fix of a channel mismatch is upstream of where the flow noticed it, the problem is
reported there, at the origin, with both sides named ("blame the origin"). When no candidate
works, the fix says what was tried; no unchecked advice is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cached_property
from itertools import islice
from typing import Any

from archspec.fixing.candidates import NAME_CODES, RENAME_CODES, RowRef, View, candidates
from archspec.fixing.fixes import CannotEdit, Edit, Fix, Spans, apply_fix, apply_to_data, document_path, render
from archspec.fixing.fixes import get as get_row
from archspec.language.columns import ROW_COLUMNS
from archspec.language.errors import Problem, format_loc, suggested_name
from archspec.language.spec import BlockRow, Spec

MAX_CHECKS = 160  # candidates checked for one problem
MAX_TOTAL = 800  # candidates checked for one spec: a spec with very many problems gets its first ones fixed
MAX_MOVED = 4  # edits that clear a problem but uncover one other, taken a second step further
MAX_SECOND = 12  # candidates for the uncovered problem, for each of those
SHOWN = 3  # fixes kept per problem, best first
_TRIED = {
    "auto_padding": "this row's kernel, stride or padding",
    "kernel_too_large": "this row's cells, the rows before it, or the part's layer type",
    "no_output": "this row's kernel, stride, padding or output padding",
    "output_padding": "this row's output padding, stride or layer",
    "residual_shape": "the block's rows, or residual: F",
    "concat_size": "a stride, kernel, padding or layer of the rows that make these sizes, alone or in pairs",
    "contract": "a stride, kernel, padding or layer of the network's rows, alone or in pairs",
}

_OWN_WORDS = NAME_CODES | RENAME_CODES | {"tile_size", "removed_key"}  # problems whose candidate is their own fix text
Check = Callable[..., Any]  # archspec.checking.load.check_data: (data, prior) -> Checked


def repair(loaded: Any, check: Check) -> list[Problem]:
    """``loaded``'s problems (an :class:`archspec.checking.load.Loaded`), placed, each with its checked
    fixes, best first, and its fix text written from them."""
    if loaded.doc is None or loaded.checked is None or not loaded.checked.problems:
        return loaded.problems
    search = _Search(loaded, check)
    found = [search.present(p) for p in loaded.checked.problems]
    return [key_fix(loaded, p) for p in loaded.place(list(loaded.prior) + found)]


_NOT_SEARCHED = "not searched (too many problems in one spec): fix the first ones and check again"


def first_fix(loaded: Any, check: Check) -> tuple[Problem, Fix] | None:
    """The first problem that has a checked fix, placed, and its best fix; None when none has one.
    (``archspec check --fix`` applies one fix at a time and checks again.)"""
    if loaded.doc is None or loaded.checked is None:
        return next(((p, p.fixes[0]) for p in loaded.problems if p.fixes), None)
    for problem in loaded.place(loaded.prior):  # a misspelt key of an override: fixed in this file's text
        shown = key_fix(loaded, problem)
        if shown.fixes:
            return shown, shown.fixes[0]
    search = _Search(loaded, check)
    for problem in loaded.checked.problems:
        shown = search.present(problem)
        if shown.fixes:
            return loaded.place([shown])[0], shown.fixes[0]
    return None


def key(problem: Problem) -> tuple:
    """What makes two problems the same problem, across edits that move text around."""
    return problem.code, tuple(problem.loc), problem.row


class _Search:
    def __init__(self, loaded: Any, check: Check):
        self.loaded = loaded
        self.check = check
        self.base = loaded.checked
        self.base_keys = {key(p) for p in self.base.problems}
        self.view = View(
            loaded.doc.data, self.base.rows, scaled=self.base.rows is not self.base.spec and self.base.spec is not None
        )
        self.budget = MAX_TOTAL
        self.elsewhere = 0

    @cached_property
    def spans(self) -> Spans:
        return Spans(self.loaded.text)

    @cached_property
    def counts(self) -> dict:
        return evidence(self.base.rows)

    def fixes(self, problem: Problem) -> tuple[list[tuple[list[Edit], Any]], int]:
        """The checked candidates, best first (with the check after each), and how many were tried."""
        self.elsewhere = 0  # candidates that would edit a spec this one extends
        if self._overridden(problem.loc):
            return [], 0
        kept, seen, tried, moved = [], set(), 0, []
        for order, edits in enumerate(islice(candidates(self.view, problem), min(MAX_CHECKS, self.budget))):
            once = tuple(edits)
            if once in seen or not self._editable(edits):
                continue
            seen.add(once)
            tried += 1
            self.budget -= 1
            after = self._verify(problem, edits, moved)
            if after is not None:
                rows, values = self._evidence(edits)
                rank = (len(edits), _dropped(after), -rows, -values, self._distance(problem, edits), order)
                kept.append((rank, edits, after))
        if not kept:  # two slips: a fix of this problem that needs a fix of the one it uncovers
            for order, (edits, after) in enumerate(self._second_steps(problem, moved)):
                tried += 1
                rows, values = self._evidence(edits)
                rank = (len(edits), _dropped(after), -rows, -values, self._distance(problem, edits), order)
                kept.append((rank, edits, after))
        kept.sort(key=lambda item: item[0])
        if kept and kept[0][0][1] == 0:  # some fix reads every pixel: none that leaves pixels unread
            kept = [item for item in kept if item[0][1] == 0]
        return [(edits, after) for _, edits, after in kept], tried

    def _overridden(self, path: Sequence) -> bool:
        """Is ``path`` (a loc or a document path) at, inside or above what a --set wrote?"""
        path = document_path(path, self.loaded.doc.data)
        return any(path[: len(o)] == o or o[: len(path)] == path for o in self.loaded.origins)

    def _editable(self, edits: list[Edit]) -> bool:
        """Can the edits be made in this file's text (not in a --set, nor in a base it extends)?"""
        if any(self._overridden(e.path) for e in edits):
            return False
        try:
            self.spans.text_edits(self.in_text(edits))
        except CannotEdit as exc:
            self.elsewhere += isinstance(exc, Inherited)
            return False
        return True

    def in_text(self, edits: list[Edit]) -> list[Edit]:
        """The edits with the paths of this file's text. A spec that extends another is checked as
        the composed spec, whose nodes keep the file, line and column they came from: a node this
        file wrote is found in its text by that position (``generator.B.table[4]: [...]`` written
        as one key); a node inherited from the base cannot be edited here (:class:`Inherited`)."""
        doc = self.loaded.doc
        if not hasattr(doc, "value_files"):  # one file: its paths are the text's
            return edits
        out = []
        for edit in edits:
            inside = edit.op == "insert" or (edit.op == "set" and edit.path not in doc.values)
            anchor, rest = (edit.path[:-1], edit.path[-1:]) if inside else (edit.path, ())
            if anchor not in doc.values:
                raise CannotEdit(f"nothing at {anchor}")
            if doc.value_files[anchor] != self.loaded.filename:
                raise Inherited(f"{anchor} comes from {doc.value_files[anchor]}")
            at = self.spans.at_position(*doc.values[anchor])
            if at is None:
                raise CannotEdit(f"no node of this file at {doc.values[anchor]}")
            if edit.op == "rename" and at and at[-1] != edit.path[-1]:  # a dotted key of this file
                renamed = renamed_key(str(at[-1]), str(edit.path[-1]), str(edit.value))
                if renamed is None:
                    raise CannotEdit(f"{at[-1]} does not end in {edit.path[-1]}")
                edit = replace(edit, value=renamed)
            out.append(replace(edit, path=at + rest))
        return out

    def _verify(self, problem: Problem, edits: list[Edit], moved: list | None = None) -> Any:
        """The check after ``edits``, if the problem is gone and nothing new is wrong; else None.
        With ``moved``, an edit after which the problem is gone but exactly one new one appears is
        kept there, (edits, data after, the new problem), for :meth:`_second_steps`."""
        try:
            data = apply_to_data(self.loaded.doc.data, _over_inherited(self.loaded.doc.data, edits))
        except CannotEdit:
            return None
        after = self.check(data, self.loaded.prior)
        if after.stage < self.base.stage:
            return None
        if after.stage == self.base.stage:
            keys = {key(p) for p in after.problems}
            new = [p for p in after.problems if key(p) not in self.base_keys]
            if key(problem) not in keys and len(new) == 1 and moved is not None and len(moved) < MAX_MOVED:
                moved.append((edits, data, after, new[0]))
            if key(problem) in keys or not keys <= self.base_keys:
                return None
        return after

    def _second_steps(self, problem: Problem, moved: list) -> list[tuple[list[Edit], Any]]:
        """Pairs of fixes for two slips: an edit that clears ``problem`` but uncovers one new
        problem, then a candidate for that one; kept when together they clear ``problem`` and
        leave nothing new (checked on the whole spec, as every fix)."""
        found = []
        for edits, data, after, new in moved:
            view = View(data, after.rows, scaled=after.rows is not after.spec and after.spec is not None)
            for more in islice(candidates(view, new), MAX_SECOND):
                if self.budget <= 0:
                    return found
                combined = list(edits) + [e for e in more if e not in edits]
                if not self._editable(combined):
                    continue
                self.budget -= 1
                checked = self._verify(problem, combined)
                if checked is not None:
                    found.append((combined, checked))
        return found

    def _evidence(self, edits: list[Edit]) -> tuple[int, int]:
        """(rows, values): how many more rows of the spec the edited rows now equal than before,
        and how much commoner the new values are than the old, column by column."""
        rows = values = 0
        edited: dict[tuple, dict[str, Any]] = {}
        for edit in edits:
            column, ref = self._cell(edit.path)
            if edit.op != "set" or ref is None:
                continue
            edited.setdefault(ref.path, {})[column] = edit.value
            counts = self.counts.get(column, {})
            if column == "channels":
                old = (ref.row.channels.in_, ref.row.channels.out)
                new = _channels(edit.value)
                values += sum(counts.get(b, 0) - counts.get(a, 0) for a, b in zip(old, new) if a != b and b is not None)
            elif column in ("layer", "kernel", "stride", "padding"):
                values += counts.get(edit.value, 0) - counts.get(getattr(ref.row, column), 0)
        same = self.counts.get("row", {})
        for path, changes in edited.items():
            row = self.view.row(path).row
            before = signature(row.layer, row.channels.in_, row.channels.out, row.kernel, row.stride)
            c_in, c_out = (
                _channels(changes["channels"]) if "channels" in changes else (row.channels.in_, row.channels.out)
            )
            after = signature(
                changes.get("layer", row.layer),
                c_in,
                c_out,
                changes.get("kernel", row.kernel),
                changes.get("stride", row.stride),
            )
            if after != before:
                rows += same.get(after, 0) - (same.get(before, 0) - 1)  # the row itself is one of its own count
        return rows, values

    def _cell(self, path: tuple) -> tuple[Any, RowRef | None]:
        """(column, row) of a row cell's document path; (None, None) elsewhere."""
        ref = self.view.row(path[:-1])
        if ref is None:
            return None, None
        last = path[-1]
        return (ROW_COLUMNS[last] if isinstance(last, int) and last < len(ROW_COLUMNS) else last), ref

    def _distance(self, problem: Problem, edits: list[Edit]) -> int:
        own = _own_row(problem, self.view)
        rows = [self._cell(e.path)[1] for e in edits]
        if own is not None and all(r is not None and r.path == own for r in rows):
            return 0
        if own is not None and all(r is not None and r.path[:-1] == own[:-1] for r in rows):
            return 1
        return 2

    # --- what is shown ------------------------------------------------------------------------

    def present(self, problem: Problem) -> Problem:
        if self.budget <= 0:
            return replace(problem, fix=_NOT_SEARCHED) if problem.code in _TRIED else problem
        kept, tried = self.fixes(problem)
        if not kept:
            if self.elsewhere and problem.code in {*_TRIED, "channels_in"}:
                return replace(
                    problem,
                    fix=f"none found in {self.loaded.filename}: the rows to change are inherited from the spec it "
                    "extends (change them there, or override them here)",
                )
            if problem.code in _TRIED and tried:
                return replace(
                    problem,
                    fix=f"none found: no edit of {_TRIED[problem.code]} makes the whole model flow ({tried} checked)",
                )
            return problem
        reverts = [edits for edits, _ in kept if self._reverts(edits)]
        kept = [(edits, after) for edits, after in kept if not self._reverts(edits)]
        if not kept:  # every fix found undoes this file's own change: say so rather than offer it
            shown = self._blame(problem, reverts[0]) or problem
            return replace(shown, fix=self._revert_words(reverts[0]))
        shown = self._blame(problem, kept[0][0]) or problem
        fixes = tuple(
            Fix(self._title(shown, edits, after), tuple(self.in_text(edits))) for edits, after in kept[:SHOWN]
        )
        fixes = tuple(f for f in fixes if self._works_in_text(problem, f))
        if not fixes:
            return problem
        if problem.code in _OWN_WORDS and problem.fix:  # the candidate is the fix the problem named: keep its words
            fixes = (replace(fixes[0], title=problem.fix),) + fixes[1:]
        return replace(shown, fixes=fixes, fix=_join(fixes))

    @cached_property
    def _base_data(self) -> Any:
        """The data of the spec this file extends, as it is without this file (None for a spec
        that extends nothing): checked from a text of this file's ``extends:`` line alone."""
        doc = self.loaded.doc
        if not hasattr(doc, "value_files"):
            return None
        base = Spans(self.loaded.text).entries.get(("extends",))
        if base is None or not isinstance(base.node.value, str):
            return None
        only = self.loaded.check_again(f"extends: {render(base.node.value)}\n", ())
        return only.doc.data if only.doc is not None else None

    def _reverts(self, edits: list[Edit]) -> bool:
        """Does every edit set a value this file wrote back to the value of the spec it extends?
        (``table[2].channels: 16/48``, a deliberate widening, "fixed" by 16/32: the override gone.)"""
        doc, base = self.loaded.doc, self._base_data
        if base is None or not edits:
            return False
        for edit in edits:
            if edit.op != "set" or doc.value_files.get(edit.path) != self.loaded.filename:
                return False
            at = self.spans.at_position(*doc.values[edit.path])
            if at is None or not isinstance(at[-1], str):  # a cell of a row written whole: not its own change
                return False
            if _get(base, edit.path) is None or str(_get(base, edit.path)) != str(edit.value):
                return False
        return True

    def _revert_words(self, edits: list[Edit]) -> str:
        cells = ", ".join(f"{format_loc(self._loc_of(e.path))} back to the base's {render(e.value)}" for e in edits)
        return (
            f"none offered: the only fix found reverts this file's own change ({cells}); to keep the change, "
            "change what reads it as well (the row or block the problem names), here or in the base"
        )

    def _works_in_text(self, problem: Problem, fix: Fix) -> bool:
        """The fix applied to this file's text, and the whole spec checked again from it: the
        problem is gone and nothing is wrong that was not (a later stage's problems aside, as in
        :meth:`_verify`). The composed data a candidate was checked on is not the text a user
        gets: an edit can land elsewhere in the text (a dotted key, an indentation)."""
        try:
            text = apply_fix(self.loaded.text, fix)
        except CannotEdit:
            return False
        after = self.loaded.check_again(text, self.loaded.overrides)
        if after.checked is None:
            return False
        if after.checked.stage != self.base.stage:
            return after.checked.stage > self.base.stage
        keys = {key(p) for p in after.checked.problems}
        return key(problem) not in keys and keys <= self.base_keys

    def _title(self, problem: Problem, edits: list[Edit], after: Any) -> str:
        """'write 8/16', 'stride 4 (32² → 8²)', 'stride 2 at A.table[1] (line 31) and B.table[1] (line 37)'."""
        own = _loc_row(problem, self.view)  # edits of another row say which
        by_row: dict[tuple, list[str]] = {}
        for edit in edits:
            column, ref = self._cell(edit.path)
            where = ref.path if ref is not None else edit.path[:-1]
            by_row.setdefault(tuple(where), []).append(self._words(problem, edit, column, ref, len(edits)))
        by_words: dict[str, list[tuple]] = {}
        for where, words in by_row.items():
            by_words.setdefault(", ".join(words), []).append(where)
        out = []
        for words, rows in by_words.items():
            if rows != [own] and rows[0][:2] in (("model", "networks"), ("model", "blocks")):
                words += " at " + self._where(rows)
            out.append(words)
        return ", and ".join(out) + self._effect(edits, after)

    def _words(self, problem: Problem, edit: Edit, column: Any, ref: RowRef | None, n: int) -> str:
        label = column if column is not None else edit.path[-1]
        value = render(edit.value)
        if edit.op == "insert":
            row = get_row(self.loaded.doc.data, edit.path[:-1])
            return f"write {render(row[: edit.path[-1]] + [edit.value] + row[edit.path[-1] :])} (_ takes the default)"
        if edit.op == "delete":
            return f"remove {label}"
        if edit.op == "rename":
            return f"rename to {value}"
        if n == 1 and tuple(problem.loc) == self._loc_of(edit.path):
            return f"write {value}" if ref is not None else f"write {label}: {value}"
        return f"{label}: {value}" if label == "residual" else f"{label} {value}"

    def _where(self, rows: list[tuple]) -> str:
        if len(rows) == 1:
            return f"{format_loc(rows[0])} ({self._line(rows[0])})"
        if all(r[:-1] == rows[0][:-1] and isinstance(r[-1], int) for r in rows):
            indices = [f"[{r[-1]}]" for r in rows]
            listed = ", ".join(indices[:-1]) + " and " + indices[-1]
            lines = ", ".join(self._line(r).removeprefix("line ") for r in rows)
            return f"{format_loc(rows[0][:-1])}{listed} (lines {lines})"
        return " and ".join(f"{format_loc(r)} ({self._line(r)})" for r in rows)

    def _loc_of(self, path: tuple) -> tuple:
        column, ref = self._cell(path)
        return (ref.path + (column,)) if ref is not None else path

    def _line(self, path: tuple) -> str:
        """'line 31', or 'line 61 of specs/quickstart.yaml' for a node a spec inherits from its base."""
        file, line, _ = self.loaded.doc.locate(path, file=self.loaded.filename)
        return f"line {line}" if file == self.loaded.filename else f"line {line} of {file}"

    def _effect(self, edits: list[Edit], after: Any) -> str:
        """' (32² → 8²)' for a size edit of one part row, from the flow after the edit."""
        cells = [self._cell(e.path) for e in edits]
        if (
            len(edits) != 1
            or cells[0][1] is None
            or cells[0][0] not in ("kernel", "stride", "padding", "output_padding", "layer")
        ):
            return ""
        path = cells[0][1].path
        if path[:2] != ("model", "networks") or after.spec is None:
            return ""
        from archspec.checking.shapes import flow  # imported here: only size fixes say what they do
        from archspec.checking.traces import format_hw

        trace = flow(after.spec).networks.get(path[2])
        part = trace.parts.get(path[3]) if trace is not None else None
        row = next((r for r in part.rows if r.loc == path), None) if part is not None else None
        return f" ({format_hw(row.in_shape)} → {format_hw(row.out_shape)})" if row is not None else ""

    def _blame(self, problem: Problem, edits: list[Edit]) -> Problem | None:
        """A channel mismatch whose best fix is the row that feeds it: the problem, told at that row."""
        if problem.code != "channels_in" or len(edits) != 1:
            return None
        column, producer = self._cell(edits[0].path)
        consumer = self.view.row(problem.row)
        if producer is None or consumer is None or producer.path == consumer.path or column != "channels":
            return None
        c_in = consumer.row.channels.in_
        out = producer.row.channels.out
        new_out = int(str(edits[0].value).split("/")[1])
        line = self._line(consumer.path)  # 'line 32' (or 'line 61 of base.yaml')
        got = f"Received: channels {producer.row.channels}"
        if producer.path[:-1] == consumer.path[:-1]:
            message = (
                f"row gives {out} channels, but the next row ({format_loc(consumer.path)}, {line}) reads {c_in}. "
                f"{got}, then {consumer.row.channels}"
            )
        elif consumer.path[:2] == ("model", "blocks"):
            message = (
                f"row gives {out} channels, but the next row applies block {consumer.path[2]}, whose first row "
                f"({format_loc(consumer.path)}, {line}) reads {c_in}. {got}, then {consumer.row.channels}"
            )
        else:
            part, reader = producer.path[3], consumer.path[3]
            inputs = self.view.spec.model.networks[consumer.path[2]].parts[reader].inputs
            others = [name for name in inputs if name != part]
            if others:
                verb = "gives" if len(others) == 1 else "give"
                message = (
                    f"part {part} gives {out} channels, but part {reader} reads {c_in} from [{', '.join(inputs)}] "
                    f"({line}) "
                    f"and {', '.join(others)} {verb} {c_in - new_out}, so {part} must give {new_out}. {got}"
                )
            else:
                message = f"part {part} gives {out} channels, but part {reader} reads {c_in} from it ({line}). {got}"
        return replace(
            problem,
            code="channels_out",
            loc=producer.path + ("channels",),
            message=message,
            row=producer.path,
            line=None,
            col=None,
        )


class Inherited(CannotEdit):
    """An edit of a node that a spec inherits from the one it extends."""


def _own_row(problem: Problem, view: View) -> tuple | None:
    """The row a problem is about: the failing row (a block's row too), or the row of its ``loc``."""
    return tuple(problem.row) if problem.row is not None else _loc_row(problem, view)


def _loc_row(problem: Problem, view: View) -> tuple | None:
    """The row a problem's ``loc`` is, or is a cell of."""
    loc = document_path(problem.loc, view.data)
    for path in (loc, loc[:-1]):
        if len(path) >= 2 and path[-2] == "table" and isinstance(path[-1], int):
            return path
    return None


def signature(layer: str, c_in: int | None, c_out: int, kernel: int, stride: int) -> tuple:
    """What makes two rows the same row, for evidence: layer, channels, kernel, stride."""
    return ("row", layer, c_in, c_out, kernel, stride)


def evidence(spec: Spec | None) -> dict[Any, dict[Any, int]]:
    """How often each value stands in each column across the spec's rows, and how often each
    whole row (:func:`signature`) does: a value or a row the rest of the spec never uses is the
    likelier typo (see :mod:`archspec.fixing.repair`)."""
    counts: dict[Any, dict[Any, int]] = {}
    if spec is None:
        return counts

    def add(column: Any, value: Any) -> None:
        counts.setdefault(column, {})
        counts[column][value] = counts[column].get(value, 0) + 1

    tables = [b.table for b in spec.model.blocks.values()] + [
        p.table for n in spec.model.networks.values() for p in n.parts.values()
    ]
    for table in tables:
        for row in table:
            if isinstance(row, BlockRow):
                continue
            add("row", signature(row.layer, row.channels.in_, row.channels.out, row.kernel, row.stride))
            add("layer", row.layer)
            add("kernel", row.kernel)
            add("stride", row.stride)
            for c in (row.channels.in_, row.channels.out):
                if c is not None:
                    add("channels", c)
            if row.padding is not None:
                add("padding", row.padding)
    return counts


def _channels(value: Any) -> tuple[int | None, int]:
    c_in, _, c_out = str(value).partition("/")
    return (int(c_in) if c_in.strip() else None), int(c_out)


def _dropped(after: Any) -> int:
    """Rows that leave input pixels unread once the fix is made (legal, but seldom meant)."""
    if after.spec is None or after.problems:
        return 0
    from archspec.checking.shapes import flow  # imported here: only a fix that makes the shapes flow is counted

    rows = [row for net in flow(after.spec).networks.values() for row in net.rows]
    inner = [r for row in rows for r in row.inner]
    return sum(1 for r in rows + inner if r.dropped != (0, 0))


def _join(fixes: Sequence[Fix]) -> str:
    return "; or ".join(f.title for f in fixes)


# --- a misspelt key in a spec that extends another -----------------------------------------------

_KEY_CODES = {"override_missing"} | RENAME_CODES  # problems whose did-you-mean names a key


def _over_inherited(data: Any, edits: list[Edit]) -> list[Edit]:
    """The edits as they act on the composed data: in a spec that extends another, renaming a
    misspelt key (``training: {sampels: 100}``) to one the base already has (``samples``) makes
    this file's value override the base's, merged into it where both are mappings."""
    out = []
    for edit in edits:
        parent = _get(data, edit.path[:-1]) if edit.op == "rename" else None
        if isinstance(parent, dict) and edit.path[-1] in parent and edit.value in parent:
            mine, base = parent[edit.path[-1]], parent[edit.value]
            merged = _merge(base, mine) if isinstance(base, dict) and isinstance(mine, dict) else mine
            out += [Edit("set", edit.path[:-1] + (edit.value,), merged), Edit("delete", edit.path)]
        else:
            out.append(edit)
    return out


def _get(data: Any, path: tuple) -> Any:
    try:
        return get_row(data, path)
    except (KeyError, IndexError, TypeError):
        return None


def _merge(base: dict, mine: dict) -> dict:
    out = dict(base)
    for k, v in mine.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def key_fix(loaded: Any, problem: Problem) -> Problem:
    """``problem`` with a checked fix when it is a misspelt key written in this file's text that
    the composed-data search cannot reach: a dotted override (``generator.B.table[0].kernal: 7``,
    one key of this file) or a key under it. The fix renames the key in the text; it is kept
    only if the whole spec, checked again from the edited text, no longer has the problem and has
    no problem it did not have."""
    if problem.fixes or problem.code not in _KEY_CODES or loaded.origins or problem.line is None:
        return problem
    name, typo = suggested_name(problem.fix), problem.loc[-1] if problem.loc else None
    if name is None or not isinstance(typo, str):
        return problem
    spans = Spans(loaded.text)
    at = next((p for p, e in spans.entries.items() if e.key is not None and _starts(e.key, problem)), None)
    if at is None or not isinstance(at[-1], str):
        return problem
    written = at[-1]
    new = renamed_key(written, typo, name)
    if new is None:
        return problem
    fix = Fix(f"rename {written} to {new}", (Edit("rename", at, new),))
    try:
        text = apply_fix(loaded.text, fix)
    except CannotEdit:
        return problem
    before = {(p.code, tuple(p.loc)) for p in loaded.problems}
    after = {(p.code, tuple(p.loc)) for p in loaded.check_again(text, ()).problems}
    if (problem.code, tuple(problem.loc)) in after or not after <= before:
        return problem
    return replace(problem, fixes=(replace(fix, title=problem.fix or fix.title),), fix=problem.fix)


def _starts(node, problem: Problem) -> bool:
    return (node.start_mark.line + 1, node.start_mark.column + 1) == (problem.line, problem.col)


def renamed_key(written: str, typo: str, name: str) -> str | None:
    """The key ``written`` in a file with its segment ``typo`` renamed to ``name``: the key itself
    (``sampels`` -> ``samples``), or one segment of a dotted override
    (``model.networks.generatr.B.table[3].repeat`` -> ``...generator...``); None when it has no such segment."""
    if written == typo:
        return name
    tokens = written.split(".")
    for i, token in enumerate(tokens):
        base, bracket, rest = token.partition("[")
        if base == typo:
            tokens[i] = name + bracket + rest
            return ".".join(tokens)
    return None
