"""Diagnostics whose fixes work: each case of issue 12 with its exact message and fix, the fix
applied (it makes the spec valid, and where it undoes the slip, the spec is the original again),
and the advice the checker used to give, applied, failing: why it is no longer shown."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec.checking.load import check_text
from archspec.checking.overrides import unused_overrides
from archspec.fixing.fixes import apply_fix

ROOT = Path(__file__).resolve().parents[3]
QUICK = (ROOT / "specs" / "quickstart.yaml").read_text()
PAPER = (ROOT / "specs" / "paper_cvae.yaml").read_text()


def one(text: str, filename: str = "q.yaml"):
    found = check_text(text, filename)
    assert len(found.problems) == 1, [p.format() for p in found.problems]
    return found.problems[0]


def _unused(text: str, overrides: list[str]) -> list:
    return unused_overrides(check_text(text, "p.yaml", overrides, fixes=False), overrides)


def mutate(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def fails(text: str) -> list[str]:
    """The problems of a text (no fixes searched): what applying some advice would lead to."""
    return [p.code for p in check_text(text, "q.yaml", fixes=False).problems]


def test_a_channel_typo_is_blamed_at_its_row_not_at_the_consumer():
    text = mutate(QUICK, "- [Conv, 8/16, 8, 4, _, _, _]", "- [Conv, 8/12, 8, 4, _, _, _]")  # recognition A, line 31
    p = one(text)
    assert p.format() == (
        "q.yaml:31:20: error: model.networks.recognition.A.table[1].channels: part A gives 12 channels, but part C reads 32 "
        "from [A, B] (line 40) and B gives 16, so A must give 16. Received: channels 8/12\n"
        "    fix: write 8/16; or channels 28/2 at model.networks.recognition.C.table[0] (line 40); "
        "or channels 8/20 at model.networks.recognition.B.table[1] (line 36)"
    )
    fixed = apply_fix(text, p.fixes[0])
    assert fixed == QUICK  # the typo undone, nothing else touched
    # the fix the checker used to give ("write 28/2" at part C) passes, but builds another network
    consumer = archspec.loads(mutate(text, "- [Conv, 32/2, 5, 1, _, _, _]", "- [Conv, 28/2, 5, 1, _, _, _]"))
    assert archspec.spec_hash(consumer) != archspec.spec_hash(archspec.loads(QUICK))


def test_a_row_that_disagrees_with_both_neighbours_is_fixed_in_one_cell():
    text = mutate(PAPER, "- [Conv, 8/16, 8, 4, _, _, _]", "- [Conv, 16/8, 8, 4, _, _, _]")  # in and out swapped
    p = one(text)
    assert p.loc == ("model", "networks", "recognition", "A", "table", 1, "channels")
    assert p.fix.startswith("write 8/16")  # "write 8/8" would pass this row and fail the next
    assert apply_fix(text, p.fixes[0]) == PAPER


def test_a_channel_mismatch_at_a_concatenation_names_both_sides():
    text = mutate(QUICK, "- [Conv, 32/2, 5, 1, _, _, _]", "- [Conv, 30/2, 5, 1, _, _, _]")
    p = one(text)
    assert "row says 30 channels in, the incoming tensor has 32 = A 16 + B 16" in p.message
    assert p.fix.startswith("write 32/2") and apply_fix(text, p.fixes[0]) == QUICK


def test_stride_3_in_a_32_pixel_path_says_why_and_offers_only_what_flows():
    text = mutate(QUICK, "- [Conv, 8/16, 8, 4, _, _, _]", "- [Conv, 8/16, 8, 3, _, _, _]")
    p = one(text)
    assert p.format() == (
        "q.yaml:31:13: error: model.networks.recognition.A.table[1]: padding auto = (kernel − stride) / 2 = (8 − 3) / 2 is not "
        "a whole number ≥ 0 (kernel − stride is odd); 32 is not divisible by 3: no padding or kernel makes a stride-3 row exact "
        "here. Received: input 32, kernel=8, stride=3, padding=auto\n"
        "    fix: stride 4 (32² → 8²)"
    )
    assert apply_fix(text, p.fixes[0]) == QUICK
    # the advice it used to give: padding 2 or 3, or a kernel of 7 or 9; each gives 10² or 11², which part C cannot concatenate with B's 8²
    for row in (
        "[Conv, 8/16, 8, 3, _, _, _, 2]",
        "[Conv, 8/16, 8, 3, _, _, _, 3]",
        "[Conv, 8/16, 7, 3, _, _, _]",
        "[Conv, 8/16, 9, 3, _, _, _]",
    ):
        assert fails(mutate(text, "[Conv, 8/16, 8, 3, _, _, _]", row)) == ["concat_size"], row


def test_a_transposed_row_at_stride_1_is_fixed_by_its_stride():
    text = mutate(QUICK, "- [ConvTransp, 32/16, 4, 2, _, _, _]", "- [ConvTransp, 32/16, 4, 1, _, _, _]")
    p = one(text)
    assert p.format() == (
        "q.yaml:61:13: error: model.networks.generator.B.table[4]: padding auto = (kernel − stride) / 2 = (4 − 1) / 2 is not a "
        "whole number ≥ 0 (kernel − stride is odd), so no padding makes this ConvTransp give exactly 16. Received: input 16, "
        "kernel=4, stride=1, padding=auto\n"
        "    fix: stride 2 (16² → 32²)"
    )
    assert apply_fix(text, p.fixes[0]) == QUICK
    # "a kernel of 3 (exact downsampling)", applied: the generator gives 32², not x's 64²
    assert fails(mutate(text, "[ConvTransp, 32/16, 4, 1,", "[ConvTransp, 32/16, 3, 1,")) == ["contract"]


def test_a_residual_blocks_kernel_is_fixed_in_the_block():
    text = mutate(QUICK, "- [Conv, 32/32, 3, 1, _, _, _]", "- [Conv, 32/32, 4, 1, _, _, _]")
    p = one(text)
    assert p.format() == (
        "q.yaml:60:13: error: model.networks.generator.B.table[3]: block ResBlock, repetition 1 of 2, row 0 "
        "(model.blocks.ResBlock.table[0]): padding auto = (kernel − stride) / 2 = (4 − 1) / 2 is not a whole number ≥ 0 "
        "(kernel − stride is odd), so no padding makes this Conv give exactly 16. Received: input 16, kernel=4, stride=1, padding=auto\n"
        "    fix: kernel 3 at model.blocks.ResBlock.table[0] (line 23); or kernel 5 at model.blocks.ResBlock.table[0] (line 23); "
        "or kernel 1 at model.blocks.ResBlock.table[0] (line 23)"
    )
    assert apply_fix(text, p.fixes[0]) == QUICK
    # "padding 1 (16 → 15)", applied: the block no longer gives back what it was given
    assert fails(mutate(text, "[Conv, 32/32, 4, 1, _, _, _]", "[Conv, 32/32, 4, 1, _, _, _, 1]")) == ["residual_shape"]


def test_a_larger_latent_is_fixed_by_one_stride_per_path():
    text = mutate(PAPER, "z: [1, 16, 16]", "z: [1, 32, 32]")
    problems = sorted(check_text(text, "p.yaml").problems, key=lambda p: p.line)
    assert [p.format() for p in problems] == [
        "p.yaml:29:7: error: model.networks.recognition: model kind 'cvae': recognition must give 2·C_z = 2 channels (mean and "
        "log-variance of z) at z's 32², [2, 32, 32]; it gives [2, 16, 16] (part C's output)\n"
        "    fix: stride 2 at model.networks.recognition.A.table[1] (line 33) and model.networks.recognition.B.table[1] (line 39); "
        "or stride 2 at model.networks.recognition.A.table[1] (line 33) and model.networks.recognition.B.table[2] (line 40); "
        "or stride 2 at model.networks.recognition.A.table[2] (line 34) and model.networks.recognition.B.table[1] (line 39)",
        "p.yaml:48:7: error: model.networks.prior: model kind 'cvae': prior must give 2·C_z = 2 channels (mean and log-variance "
        "of z) at z's 32², [2, 32, 32]; it gives [2, 16, 16] (part A's output)\n"
        "    fix: stride 2 at model.networks.prior.A.table[1] (line 52) (256² → 128²); or stride 2 at model.networks.prior.A.table[2] "
        "(line 53) (64² → 32²); or stride 1, kernel 5 at model.networks.prior.A.table[0] (line 51)",
        "p.yaml:63:20: error: model.networks.generator.B.input[1]: part B concatenates its inputs along channels, so their H×W "
        "must agree; y is 512², A is 1024². Received: A [1, 1024, 1024], y [2, 512, 512]\n"
        "    fix: stride 2 at model.networks.generator.A.table[1] (line 60) (64² → 128²); or stride 2 at "
        "model.networks.generator.A.table[2] (line 61) (256² → 512²); or stride 1, kernel 5 at model.networks.generator.A.table[0] (line 59)",
    ]
    for p in problems:
        text = apply_fix(text, p.fixes[0])  # each fix touches its own rows: all three apply together
    spec = archspec.loads(text)
    assert spec.model.networks["recognition"].parts["A"].table[1].stride == 2


@pytest.mark.parametrize(
    "old, new, message, fix",
    [
        (
            "        input: y\n        table:\n          - [Conv, 2/8",
            "        input: y\n         table:\n          - [Conv, 2/8",
            "p.yaml:37:10: error: model.networks.recognition.B.table: invalid YAML: key 'table' is at column 10, but the keys beside it "
            "are at column 9 ('input' at line 36); YAML reads a line by its indentation",
            "indent it to column 9 (1 space left)",
        ),
        (
            "    prior:  ",
            "   prior:  ",
            "p.yaml:47:4: error: model.networks.prior: invalid YAML: key 'prior' is at column 4, but the keys beside it are at column 5 "
            "('recognition' at line 28); YAML reads a line by its indentation",
            "indent it to column 5 (1 space right)",
        ),
        (
            "          - [Conv, 8/16, 8, 4, _, _, _]\n",
            "           - [Conv, 8/16, 8, 4, _, _, _]\n",
            "p.yaml:33:12: error: model.networks.recognition.A.table[1]: invalid YAML: this list item is at column 12, but the items "
            "above it are at column 11 (line 32); YAML reads a line by its indentation",
            "indent it to column 11 (1 space left)",
        ),
    ],
    ids=["key-too-deep", "key-between-levels", "row-too-deep"],
)
def test_an_indentation_slip_names_the_key_and_the_column(old, new, message, fix):
    text = mutate(PAPER, old, new)
    p = one(text, "p.yaml")
    assert p.format() == f"{message}\n    fix: {fix}"
    assert apply_fix(text, p.fixes[0]) == PAPER


def test_a_row_with_a_column_missing_names_the_column():
    text = mutate(QUICK, "- [Conv, 8/16, 8, 4, _, _, _]", "- [Conv, 8/16, 8, 4, T, ReLU]")
    p = one(text)
    assert p.format() == (
        "q.yaml:31:13: error: model.networks.recognition.A.table[1]: row has 6 of 7 columns: layer, channels, kernel, stride, "
        "bias, batchnorm, activation — the bias or the batchnorm is missing ('ReLU' in the batchnorm column is an activation, "
        "not a flag). Received: [Conv, 8/16, 8, 4, T, ReLU]\n"
        "    fix: write [Conv, 8/16, 8, 4, _, T, ReLU] (_ takes the default); or write [Conv, 8/16, 8, 4, T, _, ReLU] (_ takes the default)"
    )
    assert archspec.spec_hash(archspec.loads(apply_fix(text, p.fixes[0]))) == archspec.spec_hash(archspec.loads(QUICK))
    stride = one(mutate(QUICK, "- [Conv, 8/16, 8, 4, _, _, _]", "- [Conv, 8/16, 8, F, T, ReLU]"))
    assert "— the stride is missing ('F' in the stride column is a flag, not an integer)" in stride.message


def test_a_set_past_the_end_of_a_table_names_the_rows_it_has():
    found = check_text(PAPER, "p.yaml", ["model.networks.recognition.C.table[5].activation=none"])
    assert [p.format() for p in found.problems] == [
        "--set model.networks.recognition.C.table[5].activation=none: error: model.networks.recognition.C.table[5]: there is no "
        "row 5: the table has 1 row (only table[0])\n"
        "    fix: --set model.networks.recognition.C.table[0].activation=none"
    ]


def test_a_default_override_reaches_the_rows_that_write_underscore():
    spec = archspec.loads(PAPER, overrides=["model.defaults.activation=ELU"])
    rows = [
        r
        for n in spec.model.networks.values()
        for part in n.parts.values()
        for r in part.table
        if hasattr(r, "activation")
    ]
    assert {r.activation for r in rows} == {"ELU", "PReLU", "Softplus"}  # every _ took the new default
    assert _unused(PAPER, ["model.defaults.activation=ELU"]) == []


def test_an_override_that_changes_nothing_is_a_warning_naming_the_rows():
    explicit = (
        PAPER.replace(", _, _, _]", ", F, T, ReLU]")
        .replace(", _, _, none]", ", F, T, none]")
        .replace(", _, F, ", ", F, F, ")
    )
    assert archspec.spec_hash(archspec.loads(explicit)) == archspec.spec_hash(archspec.loads(PAPER))
    (w,) = _unused(explicit, ["model.defaults.activation=ELU", "training.samples=2000"])
    assert w.format() == (
        "--set model.defaults.activation=ELU: warning: model.defaults.activation: this override changes nothing: the 26 rows it "
        "reaches write activation themselves (lines 25, 26, 32, 33, 34, 38, 39, 40 and 18 more)\n"
        "    fix: write _ in a row's activation column to take the default"
    )
    (same,) = _unused(PAPER, ["training.samples=150000"])
    assert same.message == "this override changes nothing: training.samples is 150000 already"


def test_a_mismatch_a_set_makes_is_told_at_the_set_not_blamed_on_the_file():
    item = "model.networks.generator.B.table[1].channels=9/16"
    (p,) = check_text(QUICK, "q.yaml", [item]).problems
    assert p.file == f"--set {item}" and "row says 9 channels in, the incoming tensor has 8" in p.message
    assert p.fixes == ()  # a fix edits the file; the file is not where this slip is


# --- issue 21 items 1 and 2: misspelt keys in a variant, fixed in its own text -------------------

VARIANT_TYPOS = [
    ("model.networks.generator.B.table[0].kernal: 7", "model.networks.generator.B.table[0].kernel: 7"),
    ("model.networks.generator.B.table[3].repaet: 4", "model.networks.generator.B.table[3].repeat: 4"),
    ("model.networks.generatr.B.table[3].repeat: 4", "model.networks.generator.B.table[3].repeat: 4"),
    ("training: {sampels: 100}", "training: {samples: 100}"),
    ("training:\n  sampels: 100", "training:\n  samples: 100"),
    (
        "model.networks.generator.B.table[3]: {block: ResBlock, repaet: 4}",
        "model.networks.generator.B.table[3]: {block: ResBlock, repeat: 4}",
    ),
]


@pytest.mark.parametrize("typo, meant", VARIANT_TYPOS, ids=[t.split(":")[0] for t, _ in VARIANT_TYPOS])
def test_a_misspelt_key_in_a_variant_is_fixed_in_the_variant_and_the_result_checks(typo, meant, tmp_path, capsys):
    from archspec.cli import main as archspec_main

    quickstart = Path(__file__).resolve().parents[3] / "specs" / "quickstart.yaml"
    head = f"extends: {quickstart}\nname: v\n"
    path = tmp_path / "v.yaml"
    path.write_text(head + typo + "\n")
    assert archspec_main(["check", str(path)]) == 1
    assert archspec_main(["check", str(path), "--fix"]) == 0, capsys.readouterr()
    assert path.read_text() == head + meant + "\n"
    intended = tmp_path / "intended.yaml"
    intended.write_text(head + meant + "\n")
    assert archspec.load(path) == archspec.load(intended)
    assert archspec.spec_hash(archspec.load(path)) != archspec.spec_hash(
        archspec.load(quickstart).model_copy(update={"name": "v"})
    )


def test_every_fix_of_a_variant_is_checked_on_its_text_before_it_is_shown(tmp_path):
    """A rename found on the composed data (``...table[3].repaet``) once replaced the whole
    dotted key by 'repeat' in the text: the fix shown must be the one that works there."""
    quickstart = Path(__file__).resolve().parents[3] / "specs" / "quickstart.yaml"
    text = f"extends: {quickstart}\nname: v\nmodel.networks.generator.B.table[3].repaet: 4\n"
    loaded = check_text(text, str(tmp_path / "v.yaml"))
    (problem,) = loaded.problems
    assert problem.fixes and "repeat" in problem.fix
    for fix in problem.fixes:
        after = check_text(apply_fix(text, fix), str(tmp_path / "v.yaml"), fixes=False)
        assert not after.problems, (fix, after.problems)


def test_a_fix_that_would_undo_the_variants_own_change_is_not_offered(tmp_path, capsys):
    """Issue 21 item 3: a deliberate widening (16/48) whose only fix is the base's 16/32 is told
    so, with what reads it named, and --fix leaves the file as it is."""
    from archspec.cli import main as archspec_main

    quickstart = Path(__file__).resolve().parents[3] / "specs" / "quickstart.yaml"
    text = f"extends: {quickstart}\nname: v\nmodel.networks.generator.B.table[2].channels: 16/48\n"
    path = tmp_path / "v.yaml"
    path.write_text(text)
    (problem,) = check_text(text, str(path)).problems
    assert problem.fixes == () and problem.line == 3
    assert (
        "reverts this file's own change (model.networks.generator.B.table[2].channels back to the base's 16/32)"
        in problem.fix
    )
    assert "whose first row" in problem.message and "reads 32" in problem.message  # what else must change
    assert archspec_main(["check", str(path), "--fix"]) == 1
    assert path.read_text() == text
    capsys.readouterr()


def test_fix_says_when_a_problem_has_no_automatic_fix(tmp_path, capsys):
    """Issue 21 item 1: --fix that can change nothing says so, instead of only exiting 1."""
    from archspec.cli import main as archspec_main

    quickstart = Path(__file__).resolve().parents[3] / "specs" / "quickstart.yaml"
    path = tmp_path / "v.yaml"
    path.write_text(f"extends: {quickstart}\nname: v\nmodel.networks.generator.B.table: {{a: 1}}\n")
    assert archspec_main(["check", str(path), "--fix"]) == 1
    assert "no automatic fix for this one" in capsys.readouterr().err
    assert archspec_main(["check", str(path)]) == 1  # without --fix: the report alone
    assert "no automatic fix" not in capsys.readouterr().err


# --- two slips in one file (issue 21, item 6) -----------------------------------------------------


def test_two_slips_whose_fixes_need_each_other_are_fixed_together():
    """Both rows of generator part A widened to 1/5: changing either row alone clears the first
    problem and uncovers another (part B reads 3 = A 1 + y 2 channels), so no single cell is a fix;
    the two together are, and the fix shown is that pair, checked on the whole spec."""
    text = QUICK.replace(
        "          - [ConvTransp, 1/1, 4, 2, _, _, _]\n          - [ConvTransp, 1/1, 8, 4, _, _, _]",
        "          - [ConvTransp, 1/5, 4, 2, _, _, _]\n          - [ConvTransp, 1/5, 8, 4, _, _, _]",
    )
    assert text != QUICK
    shown = check_text(text, "two.yaml")
    fixes = [fix for problem in shown.problems for fix in problem.fixes]
    assert fixes, [p.format() for p in shown.problems]
    fixed = apply_fix(text, fixes[0])
    assert check_text(fixed, "two.yaml", fixes=False).problems == []
    assert fixed == QUICK  # both cells back to 1/1: the pair, not a third change


@pytest.mark.slow
def test_fix_converges_on_two_slips_in_one_file():
    """Forty files with two single-cell slips each (bench/bench_fixes.py --two-slips): the goal 95%."""
    import sys

    sys.path.insert(0, str(ROOT))
    from bench.bench_fixes import two_slips

    assert two_slips("specs/quickstart.yaml", 40)
