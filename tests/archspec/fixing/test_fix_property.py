"""Fixes that work, as properties over single-cell mutants (tests/mutants.py) of the shipped specs
and of random valid specs:

- every fix shown, applied to the text, leaves a spec with fewer problems and none that was not
  there before (judged by the checker alone, on the edited text);
- ``--fix`` converges to a valid spec in at least 95% of mutants (every mutant has a one-cell
  repair: undoing it), and where it does not, it still reports what is left.

The default suite checks a fixed sample; ``-m slow`` runs every mutant of every shipped spec.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.checking.load import check_text
from archspec.fixing.fixes import apply_fix
from archspec.presenting.report import fix_text
from tests.mutants import mutants

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = [
    ROOT / "specs" / "quickstart.yaml",
    ROOT / "specs" / "regression.yaml",
    ROOT / "specs" / "paper_cvae.yaml",
    ROOT / "specs" / "paper_cgan.yaml",  # 123 of 124 mutants (2026-12-07)
    ROOT / "specs" / "quickstart_cgan.yaml",  # 124 of 124
    ROOT / "specs" / "variants" / "free_latent.yaml",
    ROOT / "specs" / "variants" / "quickstart" / "free_latent.yaml",
]
CONVERGENCE = 0.95  # the bar: --fix repairs at least this share of single-cell mutants


def judge(text: str, filename: str = "m.yaml") -> bool | None:
    """None for a valid text; else check every fix shown (assertions) and return whether --fix
    converges to a valid spec. ``filename`` places the text (a variant finds its base from it)."""
    shown = check_text(text, filename)
    if not shown.problems:
        return None
    before = check_text(text, filename, fixes=False)
    keys = {(p.code, tuple(p.loc)) for p in before.problems}
    for problem in shown.problems:
        for fix in problem.fixes:
            after = check_text(apply_fix(text, fix), filename, fixes=False)
            later = (
                after.checked is not None and before.checked is not None and after.checked.stage > before.checked.stage
            )
            new = [q.format() for q in after.problems if (q.code, tuple(q.loc)) not in keys]
            if not later:  # a problem a later stage finds once this one is gone is found and fixed in turn
                assert len(after.problems) < len(before.problems), (
                    problem.format(),
                    fix.title,
                    [q.format() for q in after.problems],
                )
                assert not new, (problem.format(), fix.title, new)
    fixed, applied = fix_text(text, filename)
    final = check_text(fixed, filename, fixes=False)
    if final.problems:  # it says it cannot: the rest is reported, at its place
        assert all(p.line is not None for p in final.problems)
    return not final.problems


def convergence(texts, filename: str = "m.yaml") -> tuple[int, int, list]:
    total = converged = 0
    misses = []
    for label, text in texts:
        result = judge(text, filename)
        if result is None:
            continue
        total += 1
        converged += result
        if not result:
            misses.append(label)
    return converged, total, misses


# --- random valid specs ---------------------------------------------------------------------------


def random_spec(rng: random.Random) -> str:
    """A valid regression spec: part A takes y down by strides and back up (a residual block in the
    middle, sometimes), part B concatenates [A, y] and gives x."""
    size = rng.choice([16, 32, 64])
    c_y, c_x = rng.choice([1, 2, 3]), rng.choice([1, 2])
    rows, strides, c, s_now = [], [], c_y, size
    for _ in range(rng.randint(1, 3)):
        stride = rng.choice([2, 4])
        if s_now % stride or s_now // stride < 2:
            continue
        kernel = rng.choice([stride, stride + 2])
        out = rng.choice([4, 8, 16])
        rows.append(f"[Conv, {c}/{out}, {kernel}, {stride}, _, _, _]")
        strides.append(stride)
        c, s_now = out, s_now // stride
    if rng.random() < 0.5:
        rows.append(f"[Conv, {c}/{c}, {rng.choice([1, 3, 5])}, 1, _, _, _]")
    block = c if rng.random() < 0.5 else None  # the block keeps the channels it is given
    if block:
        rows.append(f"{{block: Res, repeat: {rng.randint(1, 2)}}}")
    for stride in reversed(strides):
        out = rng.choice([4, 8])
        rows.append(f"[ConvTransp, {c}/{out}, {rng.choice([stride, stride + 2])}, {stride}, _, _, _]")
        c = out
    blocks = (
        (
            f"  blocks:\n    Res:\n      residual: T\n      activation: ReLU\n      table:\n"
            f"        - [Conv, {block}/{block}, 3, 1, _, _, _]\n        - [Conv, {block}/{block}, 3, 1, _, _, none]\n"
        )
        if block
        else ""
    )
    table = "".join(f"          - {row}\n" for row in rows)
    return (
        "archspec: 1\nname: random\nmodel:\n  kind: regression\n"
        f"  shapes: {{x: [{c_x}, {size}, {size}], y: [{c_y}, {size}, {size}]}}\n"
        "  defaults: {bias: F, batchnorm: T, activation: ReLU, padding: auto}\n"
        f"{blocks}  networks:\n    painter:\n      A:\n        input: y\n        table:\n{table}"
        f"      B:\n        input: [A, y]\n        table:\n          - [Conv, {c + c_y}/{c_x}, 3, 1, _, F, none]\n"
    )


def test_random_specs_are_valid():
    rng = random.Random(0)
    for _ in range(30):
        archspec.loads(random_spec(rng))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.randoms(use_true_random=False), st.data())
def test_every_fix_shown_works_on_a_mutant_of_a_random_spec(rng, data):
    text = random_spec(rng)
    options = list(mutants(text, per_cell=2))
    mutant = data.draw(st.sampled_from(options))
    judge(mutant.text)


def test_fix_converges_on_mutants_of_random_specs():
    rng = random.Random(12)
    texts = []
    for n in range(6):
        spec = random_spec(rng)
        texts += [
            (f"spec {n} line {m.line} {m.kind} {m.old}->{m.new}", m.text)
            for i, m in enumerate(mutants(spec, per_cell=1))
            if i % 3 == n % 3
        ]
    converged, total, misses = convergence(texts)
    assert total >= 20 and converged / total >= CONVERGENCE, (converged, total, misses)


def test_fix_converges_on_a_sample_of_quickstart_mutants():
    text = (ROOT / "specs" / "quickstart.yaml").read_text()
    sample = [
        (f"line {m.line} {m.kind} {m.old}->{m.new}", m.text)
        for i, m in enumerate(mutants(text, per_cell=1))
        if i % 4 == 0
    ]
    converged, total, misses = convergence(sample)
    assert total >= 30 and converged / total >= CONVERGENCE, (converged, total, misses)


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT / "specs")) for p in SHIPPED])
def test_fix_converges_on_every_mutant_of_a_shipped_spec(path, tmp_path):
    text = path.read_text()
    copy = tmp_path / path.relative_to(ROOT)  # a variant finds its base by its relative path
    copy.parent.mkdir(parents=True, exist_ok=True)
    for spec in (ROOT / "specs").rglob("*.yaml"):
        target = tmp_path / spec.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spec.read_text())
    every = [(f"line {m.line} {m.kind} {m.old}->{m.new}", m.text) for m in mutants(text)]
    converged, total, misses = convergence(every, filename=str(copy))
    assert total and converged / total >= CONVERGENCE, (converged, total, misses)
