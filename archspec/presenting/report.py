"""What ``archspec check`` prints: problems as text, JSON, SARIF or GitHub annotations, and
``--fix``, which applies checked fixes one at a time and checks again.

Every format carries the same data: the code, the file, line and column, the path in the spec,
the message, the fix as text, and each checked fix as edits of the file (line:col ranges and
the replacement text), so an editor or a CI bot can apply what ``--fix`` would.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from archspec import __version__
from archspec.checking.load import Loaded, check_data, check_text
from archspec.checking.overrides import unused_overrides
from archspec.fixing.fixes import CannotEdit, Fix, Spans, apply_fix, unified_diff
from archspec.fixing.repair import first_fix
from archspec.language.errors import Problem, SpecError, format_loc
from archspec.text.files import Unreadable, read_bounded

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
FORMATS = ("text", "json", "sarif", "github")
MAX_ROUNDS = 50  # fixes --fix applies to one file before it gives up


@dataclass
class Result:
    """One spec checked: its text as read (and as fixed), the problems found, the fixes applied."""

    path: str
    text: str | None = None  # None: could not be read
    error: str | None = None  # why it could not be read
    loaded: Loaded | None = None
    warnings: list[Problem] = field(default_factory=list)
    fixed: str | None = None  # the text after --fix
    applied: list[tuple[Problem, Fix]] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        """Errors and warnings in the order of the text report: by file, line and column."""
        found = (self.loaded.problems if self.loaded else []) + self.warnings
        return sorted(found, key=lambda p: (p.file, p.line or 0, p.col or 0, p.code))

    @property
    def valid(self) -> bool:
        return self.loaded is not None and not self.loaded.problems

    def summary(self) -> str:
        spec = self.loaded.checked.spec
        rows = sum(len(part.table) for net in spec.model.networks.values() for part in net.parts.values())
        return f"{self.path}: ok ({spec.model.kind}: {len(spec.model.networks)} networks, {rows} rows)"


def check_file(path: str, overrides: Sequence[str] = (), fix: bool = False) -> Result:
    """Read and check one spec; with ``fix``, apply checked fixes until none is left."""
    result = Result(path)
    try:
        raw = read_bounded(path)
        result.text = raw.decode("utf-8")
    except OSError as exc:
        result.error = f"cannot read spec {path}: {exc.strerror or exc}"
        return result
    except (UnicodeDecodeError, Unreadable):
        from archspec.checking.load import load  # the loader's own words for a file that is not a spec's text

        try:
            load(path)
        except SpecError as exc:
            result.loaded = Loaded("", path, None, {}, exc.problems, None, exc.problems)
        return result
    text = result.text
    if fix:
        text, result.applied = fix_text(text, path, overrides)
        result.fixed = text
    result.loaded = check_text(text, path, overrides)
    if overrides and not result.loaded.problems:
        result.warnings = unused_overrides(result.loaded, overrides)
    return result


def fix_text(text: str, path: str, overrides: Sequence[str] = ()) -> tuple[str, list[tuple[Problem, Fix]]]:
    """Apply the best checked fix of the first problem that has one, check again, repeat."""
    applied: list[tuple[Problem, Fix]] = []
    seen = {text}
    for _ in range(MAX_ROUNDS):
        found = first_fix(check_text(text, path, overrides, fixes=False), check_data)
        if found is None:
            break
        problem, chosen = found
        try:
            text = apply_fix(text, chosen)
        except CannotEdit:
            break
        applied.append((problem, chosen))
        if text in seen:  # a fix undone by a later one: stop rather than go round
            break
        seen.add(text)
    return text, applied


def write_text(path: str, text: str) -> None:
    """Replace a file's text atomically (a temporary file in the same folder, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".archspec-fix-", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, os.stat(path).st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def check_command(
    paths: Sequence[str],
    overrides: Sequence[str] = (),
    fmt: str = "text",
    fix: bool = False,
    dry_run: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``archspec check``: 0 when every spec is valid (after --fix, if given), 1 when one is not,
    2 when one cannot be read."""
    out, err = out or sys.stdout, err or sys.stderr
    results = [check_file(path, overrides, fix) for path in paths]
    for result in results:
        if fix and result.fixed is not None and result.fixed != result.text and not dry_run:
            write_text(result.path, result.fixed)
    if fmt == "json":
        out.write(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n")
    elif fmt == "sarif":
        out.write(json.dumps(to_sarif(results), indent=2, ensure_ascii=False) + "\n")
    elif fmt == "github":
        out.write("".join(github_line(p) + "\n" for r in results for p in r.problems))
    else:
        for result in results:
            _text(result, fix, dry_run, out, err)
    status = EXIT_OK
    for result in results:
        status = max(status, EXIT_USAGE if result.error else EXIT_OK if result.valid else EXIT_INVALID)
    return status


def _text(result: Result, fix: bool, dry_run: bool, out: TextIO, err: TextIO) -> None:
    if result.error:
        print(f"archspec: error: {result.error}", file=err)
        return
    if fix and result.applied:
        out.write(unified_diff(result.text or "", result.fixed or "", result.path))
        n = len(result.applied)
        print(f"{'would fix' if dry_run else 'fixed'} {n} problem{'s' if n != 1 else ''} in {result.path}", file=out)
    for warning in result.warnings:
        print(warning.format(), file=err)
    if result.valid:
        print(result.summary() + (" after these fixes" if fix and dry_run and result.applied else ""), file=out)
    else:
        print(SpecError(result.loaded.problems).report(), file=err)
        unfixed = [p for p in result.loaded.problems if not p.fixes]
        if fix and unfixed:  # say it, rather than leave the user wondering why --fix stopped
            print(
                f"no automatic fix for {'this one' if len(unfixed) == 1 else f'these {len(unfixed)}'}: "
                "change by hand as the fix line says (where one is known)",
                file=err,
            )


# --- machine-readable ---------------------------------------------------------------------------


def problem_data(problem: Problem, text: str | None, path: str) -> dict[str, Any]:
    """A problem as plain data, its fixes as edits of ``text``, the text of the spec checked at
    ``path`` (a problem inherited from a spec it extends is placed in that spec's file, but is
    fixed, where it can be, in the one checked)."""
    placed = bool(problem.line)
    return {
        "code": problem.code,
        "severity": problem.severity,
        "file": problem.file,
        "line": problem.line if placed else None,
        "col": problem.col if placed else None,
        "path": format_loc(problem.loc),
        "loc": list(problem.loc),
        "message": problem.message,
        "fix": problem.fix,
        "fixes": [_fix_data(f, text, path) for f in problem.fixes] if text is not None and placed else [],
    }


def _fix_data(fix: Fix, text: str, path: str) -> dict[str, Any]:
    try:
        edits = (Spans(text).text_edits(fix.edits) if fix.edits else []) + list(fix.raw)
    except CannotEdit:
        edits = []
    return {
        "title": fix.title,
        "applicability": fix.applicability,
        "edits": [
            {"file": path, "line": e.line, "col": e.col, "end_line": e.end_line, "end_col": e.end_col, "text": e.text}
            for e in edits
        ],
    }


def to_json(results: Sequence[Result]) -> dict[str, Any]:
    return {
        "version": 1,
        "tool": "archspec",
        "files": [
            {
                "file": r.path,
                "valid": r.valid,
                "error": r.error,
                "fixed": len(r.applied),
                "problems": [problem_data(p, r.fixed if r.fixed is not None else r.text, r.path) for p in r.problems],
            }
            for r in results
        ],
    }


def to_sarif(results: Sequence[Result]) -> dict[str, Any]:
    """SARIF 2.1.0: one run, one result per problem, fixes as replacements."""
    rules, out = {}, []
    for result in results:
        text = result.fixed if result.fixed is not None else result.text
        for p in result.problems:
            rules.setdefault(p.code, {"id": p.code})
            data = problem_data(p, text, result.path)
            entry: dict[str, Any] = {
                "ruleId": p.code,
                "level": "warning" if p.severity == "warning" else "error",
                "message": {"text": f"{format_loc(p.loc)}: {p.message}" + (f"\nfix: {p.fix}" if p.fix else "")},
                "logicalLocations": [{"fullyQualifiedName": format_loc(p.loc)}],
            }
            if data["line"]:
                entry["locations"] = [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": p.file},
                            "region": {"startLine": p.line, "startColumn": p.col},
                        }
                    }
                ]
                entry["fixes"] = [
                    {
                        "description": {"text": f["title"]},
                        "artifactChanges": [
                            {
                                "artifactLocation": {"uri": result.path},
                                "replacements": [
                                    {
                                        "deletedRegion": {
                                            "startLine": e["line"],
                                            "startColumn": e["col"],
                                            "endLine": e["end_line"],
                                            "endColumn": e["end_col"],
                                        },
                                        "insertedContent": {"text": e["text"]},
                                    }
                                    for e in f["edits"]
                                ],
                            }
                        ],
                    }
                    for f in data["fixes"]
                ]
            out.append(entry)
        if result.error:
            out.append(
                {
                    "ruleId": "unreadable",
                    "level": "error",
                    "message": {"text": result.error},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": result.path}}}],
                }
            )
            rules.setdefault("unreadable", {"id": "unreadable"})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "archspec", "version": __version__, "rules": list(rules.values())}},
                "results": out,
            }
        ],
    }


def github_line(problem: Problem) -> str:
    """A GitHub Actions workflow command: an annotation on the file and line (or unplaced)."""
    kind = "warning" if problem.severity == "warning" else "error"
    where = f"file={_property(problem.file)},line={problem.line},col={problem.col}," if problem.line else ""
    body = f"{format_loc(problem.loc)}: {problem.message}" + (f"\nfix: {problem.fix}" if problem.fix else "")
    return f"::{kind} {where}title={_property('archspec ' + problem.code)}::{_data(body)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
