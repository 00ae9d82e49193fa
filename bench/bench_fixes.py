"""How well fixes work: every single-cell mutant of the shipped specs (tests/mutants.py: a layer
flipped, a channel count, kernel or stride changed, a padding added, a name misspelt), checked.

For each spec it prints how many mutants are invalid, how many `--fix` brings back to a valid spec
(the issue's bar: at least 95%), how many of the fixes shown fail the checker once applied (the
bar: none), and the time a check (with its fix search) and a `--fix` take per mutant.

    python bench/bench_fixes.py [--per-cell 9] [SPEC ...]
    python bench/bench_fixes.py --two-slips 40 specs/quickstart.yaml    # two slips in one file

``--two-slips N`` draws N pairs of single-cell mutants on different lines (seed 0) whose merged
text is invalid, and counts how many `--fix` brings back (issue 21's item 6: the goal is 95%).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspec.checking.load import check_text  # noqa: E402
from archspec.fixing.fixes import apply_fix  # noqa: E402
from archspec.presenting.report import fix_text  # noqa: E402
from tests.mutants import mutants  # noqa: E402

SPECS = [
    "specs/quickstart.yaml",
    "specs/regression.yaml",
    "specs/paper_cvae.yaml",
    "specs/variants/free_latent.yaml",
    "specs/variants/quickstart/free_latent.yaml",
]


def failing_fixes(text: str, path: str, shown) -> list[str]:
    """The fixes shown that, applied, leave as many problems or a new one (the checker judges)."""
    before = check_text(text, path, fixes=False)
    keys = {(p.code, tuple(p.loc)) for p in before.problems}
    bad = []
    for problem in shown.problems:
        for fix in problem.fixes:
            after = check_text(apply_fix(text, fix), path, fixes=False)
            if after.checked is not None and before.checked is not None and after.checked.stage > before.checked.stage:
                continue  # a later stage's problem, found once this one is gone
            if len(after.problems) >= len(before.problems) or any(
                (q.code, tuple(q.loc)) not in keys for q in after.problems
            ):
                bad.append(f"{problem.format()} | {fix.title}")
    return bad


def measure(name: str, per_cell: int) -> bool:
    path = str(ROOT / name)  # where the text stands: a variant finds its base from it
    text = Path(path).read_text()
    total = invalid = converged = 0
    bad: list[str] = []
    misses: list[str] = []
    t_check = t_fix = 0.0
    for m in mutants(text, per_cell=per_cell):
        total += 1
        start = time.perf_counter()
        shown = check_text(m.text, path)
        t_check += time.perf_counter() - start
        if not shown.problems:
            continue
        invalid += 1
        bad += failing_fixes(m.text, path, shown)
        start = time.perf_counter()
        fixed, _ = fix_text(m.text, path)
        t_fix += time.perf_counter() - start
        if check_text(fixed, path, fixes=False).problems:
            misses.append(f"line {m.line} {m.kind} {m.old} -> {m.new}")
        else:
            converged += 1
    rate = converged / invalid if invalid else 1.0
    print(
        f"{name}: {total} mutants, {invalid} invalid, --fix converges on {converged} ({rate:.1%}), "
        f"{len(bad)} fixes shown that fail; check {t_check / max(total, 1) * 1e3:.0f} ms, --fix "
        f"{t_fix / max(invalid, 1) * 1e3:.0f} ms per mutant"
    )
    for line in misses[:10] + bad[:10]:
        print("   ", line)
    return rate >= 0.95 and not bad


def two_slips(name: str, n: int, seed: int = 0) -> bool:
    """--fix on ``n`` texts with two slips each: two single-cell mutants on different lines, merged."""
    path = str(ROOT / name)
    text = Path(path).read_text()
    lines = text.splitlines(keepends=True)
    pool = list(mutants(text))
    rng = random.Random(seed)
    pairs = []
    for _ in range(100 * n):
        if len(pairs) == n:
            break
        a, b = rng.sample(pool, 2)
        la, lb = a.text.splitlines(keepends=True), b.text.splitlines(keepends=True)
        if a.line == b.line or len(la) != len(lines) or len(lb) != len(lines):
            continue  # one line each, in place
        merged = list(lines)
        merged[a.line - 1], merged[b.line - 1] = la[a.line - 1], lb[b.line - 1]
        merged_text = "".join(merged)
        if check_text(merged_text, path, fixes=False).problems:
            pairs.append(
                (f"line {a.line} {a.kind} {a.old} -> {a.new} + line {b.line} {b.kind} {b.old} -> {b.new}", merged_text)
            )
    misses = [label for label, t in pairs if check_text(fix_text(t, path)[0], path, fixes=False).problems]
    rate = 1 - len(misses) / max(len(pairs), 1)
    print(f"{name}: {len(pairs)} texts with two slips, --fix converges on {len(pairs) - len(misses)} ({rate:.1%})")
    for line in misses[:10]:
        print("   ", line)
    return rate >= 0.95


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=SPECS, metavar="SPEC")
    parser.add_argument("--per-cell", type=int, default=9, help="mutated values per cell and class (default 9: all)")
    parser.add_argument("--two-slips", type=int, metavar="N", help="N texts with two slips each, instead")
    args = parser.parse_args(argv)
    if args.two_slips:
        return 0 if all([two_slips(name, args.two_slips) for name in args.specs]) else 1
    ok = [measure(name, args.per_cell) for name in args.specs]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
