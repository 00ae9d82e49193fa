"""Malformed specs: each gives a clean SpecError at the exact line and column of the bad node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.language.errors import SpecError
from tests.spec_texts import BASE, locate

ROOT = Path(__file__).resolve().parents[3]


def edit(old: str, new: str, nth: int = 0) -> str:
    """BASE with the nth occurrence of ``old`` replaced by ``new``."""
    index = -1
    for _ in range(nth + 1):
        index = BASE.index(old, index + 1)
    return BASE[:index] + new + BASE[index + len(old) :]


def problems_of(text: str):
    with pytest.raises(SpecError) as info:
        archspec.loads(text, filename="t.yaml")
    return info.value.problems


# (id, text, needle the error must point at (its first occurrence in the text), code, words the message must hold)
CASES = [
    ("unknown-top-key", BASE.replace("training:", "trainig:"), "trainig", "unknown_key", ["did you mean 'training'"]),
    (
        "unknown-row-key",
        edit("channels: 4/2, kernel: 4", "channels: 4/2, kernal: 4"),
        "kernal",
        "unknown_key",
        ["did you mean 'kernel'"],
    ),
    (
        "wrong-type",
        edit("[Conv, 1/4, 4, 2", "[Conv, 1/4, four, 2"),
        "four",
        "int_type",
        ["expected an integer", "'four'"],
    ),
    (
        "negative-kernel",
        edit("[Conv, 1/4, 4, 2", "[Conv, 1/4, -3, 2"),
        "-3",
        "greater_than_equal",
        ["expected a value >= 1", "-3"],
    ),
    (
        "huge-number",
        edit("[Conv, 1/4, 4, 2", "[Conv, 1/4, 100000000000000000000000000000, 2"),
        "1000000",
        "less_than_equal",
        ["<= 10000"],
    ),
    ("negative-stride", edit("kernel: 4, stride: 2", "kernel: 4, stride: -1"), "-1", "greater_than_equal", ["-1"]),
    ("unknown-layer", edit("[Conv, 4/8, 4, 2", "[Cnv, 4/8, 4, 2"), "Cnv", "unknown_layer", ["did you mean 'Conv'"]),
    (
        "unknown-activation",
        edit("F, T, ReLU]", "F, T, ReLu]", 2),
        "ReLu",
        "unknown_activation",
        ["did you mean 'ReLU'"],
    ),
    ("bad-channels", edit("[Conv, 2/4, 4, 2", "[Conv, 2-4, 4, 2"), "2-4", "channels", ["'in/out'", "'2-4'"]),
    ("zero-channels", edit("[Conv, 2/4, 4, 2", "[Conv, 2/0, 4, 2"), "2/0", "greater_than_equal", [">= 1"]),
    (
        "bad-flag",
        edit("[Conv, 3/8, 3, 1, F, T, ReLU]", "[Conv, 3/8, 3, 1, maybe, T, ReLU]"),
        "maybe",
        "flag",
        ["T, F, true or false", "'maybe'"],
    ),
    (
        "row-too-long",
        edit("[Conv, 3/8, 3, 1, F, T, ReLU]", "[Conv, 3/8, 3, 1, F, T, ReLU, auto, 7]"),
        "[Conv, 3/8, 3, 1, F, T, ReLU, auto, 7]",
        "row_length",
        ["found 9 columns"],
    ),
    (
        "row-too-short",
        edit("[Conv, 3/8, 3, 1, F, T, ReLU]", "[Conv, 3/8]"),
        "[Conv, 3/8]",
        "row_length",
        ["found 2 columns"],
    ),
    (
        "bad-padding",
        edit("[Conv, 3/8, 3, 1, F, T, ReLU]", "[Conv, 3/8, 3, 1, F, T, ReLU, same]"),
        "same",
        "literal_error",
        ["'auto' or an integer", "'same'"],
    ),
    ("unknown-part", edit("input: [A, B]", "input: [A, D]"), "D]", "unknown_input", ["'D'"]),
    ("later-part", edit("input: x", "input: B"), "B\n", "later_part", ["comes later", "move part B above part A"]),
    ("part-cycle", edit("input: y", "input: C"), "C\n", "cycle", ["B -> C -> B"]),
    ("self-reference", edit("input: [A, B]", "input: [A, C]"), "C]", "cycle", ["its own output"]),
    (
        "unknown-block",
        edit("{block: Res, repeat: 2}", "{block: Rez, repeat: 2}"),
        "Rez",
        "unknown_block",
        ["did you mean 'Res'"],
    ),
    (
        "block-as-layer",
        edit("{block: Res, repeat: 2}", "[Res, 8/8, 3, 1]"),
        "Res, 8/8",
        "block_as_layer",
        ["{block: Res"],
    ),
    (
        "block-cycle",
        edit("        - [Conv, 8/8, 3, 1, F, T, none]", "        - {block: Res}"),
        "Res}",
        "cycle",
        ["Res -> Res"],
    ),
    ("zero-repeat", edit("repeat: 2", "repeat: 0"), "0}", "greater_than_equal", [">= 1"]),
    (
        "missing-table",
        edit(
            "      B:\n        input: y\n        table:\n          - [Conv, 2/4, 4, 2, F, T, ReLU]\n          - [Conv, 4/8, 4, 2, F, T, ReLU]\n",
            "      B:\n        input: y\n",
        ),
        "input: y",
        "missing",
        ["'table'"],
    ),
    (
        "duplicate-key",
        edit("  samples: 1000\n", "  samples: 1000\n  samples: 2000\n"),
        "samples: 2000",
        "duplicate_key",
        ["duplicate key 'samples'", f"first defined at line {BASE.splitlines().index('  samples: 1000') + 1}"],
    ),
    ("wrong-kind", BASE.replace("kind: cvae", "kind: vae"), "vae", "unknown_kind", ["did you mean 'cvae'"]),
    ("wrong-version", BASE.replace("archspec: 1", "archspec: 2"), "2", "literal_error", ["1"]),
    ("missing-network", edit("    prior:\n", "    priors:\n"), "priors", "unknown_network", ["did you mean 'prior'"]),
    ("shape-two-dims", BASE.replace("z: [1, 8, 8]", "z: [8, 8]"), "[8, 8]", "too_short", ["3 item"]),
    (
        "input-not-allowed",
        edit("      A:\n        input: y", "      A:\n        input: x"),
        "x\n        table:\n          - [Conv, 2/4",
        "input_not_allowed",
        ["'x'", "y"],
    ),
    ("unknown-output", edit("    generator:\n", "    generator:\n      output: Z\n"), "Z\n", "unknown_part", ["'Z'"]),
    ("lr-floor", BASE.replace("min: 1.0e-6", "min: 1.0e-2"), "{start", "lr_floor", ["min <= start"]),
    (
        "milestones-order",
        BASE.replace("milestones: [64, 96]", "milestones: [96, 64]"),
        "{start",
        "not_increasing",
        ["64 after 96"],
    ),
    ("batch-size-zero", BASE.replace("[8, 8]]", "[8, 0]]"), "[8, 0]", "greater_than_equal", [">= 1"]),
    (
        "batch-steps-order",
        BASE.replace("[[0, 4], [8, 8]]", "[[0, 4], [8, 8], [4, 16]]"),
        "[[0, 4]",
        "not_increasing",
        ["4 after 8"],
    ),
    (
        "python-tag",
        BASE.replace("name: tiny", "name: !!python/object/apply:os.system [ls]"),
        "!!python",
        "yaml_tag",
        ["may not use"],
    ),
    ("tile-not-x", BASE + "data: {tile: 64}\n", "64}", "tile_size", ["x's size 32×32", "tile: 32"]),
    ("bad-name", BASE.replace("name: tiny", "name: my spec"), "my spec", "string_pattern_mismatch", ["'my spec'"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_spec_points_at_the_node(case):
    _, text, needle, code, words = case
    problems = problems_of(text)
    mine = [p for p in problems if p.code == code]
    assert mine, f"expected a {code} problem, got {[p.format() for p in problems]}"
    p = mine[0]
    assert (p.line, p.col) == locate(text, needle), p.format()
    assert p.file == "t.yaml"
    for word in words:
        assert word in p.format(), p.format()


def test_at_least_25_error_classes_are_covered():
    assert len({c[3] for c in CASES}) >= 25 and len(CASES) >= 30


def test_empty_file():
    (p,) = problems_of("")
    assert (p.code, p.line, p.col) == ("empty", 1, 1)
    (p,) = problems_of("# only a comment\n")
    assert p.code == "empty"


def test_root_must_be_a_mapping():
    (p,) = problems_of("- a\n- b\n")
    assert (p.code, p.line, p.col) == ("root_type", 1, 1)
    assert "found a list of 2 items" in p.message


def test_tab_indentation_is_a_yaml_error_at_the_tab():
    text = BASE.replace("  samples: 1000", "\tsamples: 1000")
    (p,) = problems_of(text)
    assert p.code == "yaml"
    assert (p.line, p.col) == locate(text, "\tsamples")
    assert "tab" in p.message


def test_unclosed_bracket_is_a_yaml_error():
    text = BASE.replace("[Conv, 8/1, 3, 1, F, F, Softplus]", "[Conv, 8/1, 3, 1, F, F, Softplus")
    (p,) = problems_of(text)
    assert p.code == "yaml" and "invalid YAML" in p.message
    assert p.line == locate(text, "training:")[0]  # where the parser saw the list never close


def test_all_errors_of_a_file_are_reported_together():
    text = (
        edit("[Conv, 1/4, 4, 2", "[Conv, 1/4, four, 2")
        .replace("kind: cvae", "kind: vae")
        .replace("samples: 1000", "samples: -5")
    )
    problems = problems_of(text)
    assert {p.code for p in problems} >= {"int_type", "unknown_kind", "greater_than_equal"}
    report = SpecError(problems).report()
    assert report.endswith(f"{len(problems)} errors in t.yaml")


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("tiny", "tin\xff").encode("latin-1"))
    with pytest.raises(SpecError) as info:
        archspec.load(path)
    assert info.value.problems[0].code == "encoding"


def test_override_typo_is_named_with_did_you_mean():
    with pytest.raises(SpecError) as info:
        archspec.loads(BASE, filename="t.yaml", overrides=["training.sampels=5"])
    (p,) = info.value.problems
    assert p.file == "--set training.sampels=5"
    assert "did you mean 'samples'" in p.format()


def test_override_errors_are_blamed_on_the_override_not_the_file():
    for item, words in [
        ("model.networks.generator.B.table.0.kernel=x", "expected an integer, found 'x'"),  # a cell of a flow-list row
        ("trainig.samples=5", "did you mean 'training'"),  # the problem sits above the overridden key
        ("training.lr.milestones.1=10", "milestones in increasing order"),
    ]:
        with pytest.raises(SpecError) as info:
            archspec.loads(BASE, filename="t.yaml", overrides=[item])
        (p,) = info.value.problems
        assert p.file == f"--set {item}" and words in p.format(), p.format()


def test_override_adds_a_key_no_column_holds_to_a_flow_row():
    spec = archspec.loads(BASE, overrides=["model.networks.generator.A.table.0.output_padding=0"])
    assert spec.model.networks["generator"].parts["A"].table[0].kernel == 4


@pytest.mark.parametrize("item", ["a..b=1", "=3", "[0]=1", "training.samples"])
def test_malformed_override_is_a_usage_error(item):
    res = subprocess.run(
        [sys.executable, "-m", "archspec", "check", "specs/quickstart.yaml", "--set", item],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert res.returncode == 2 and "--set" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "text, found",
    [
        (BASE.replace("repeat: 2", "repeat: yes"), "found True"),  # YAML's yes is a boolean, not 1
        (BASE.replace("[Conv, 2/4, 4, 2", "[Conv, 2.5, 4, 2"), "'in/out'"),
        (BASE.replace("          - [Conv, 3/8, 3, 1, F, T, ReLU]", "          - 5"), "expected a row"),
        (BASE.replace("  samples: 1000", "  1: 1000"), "a name (text) as the key"),
    ],
)
def test_wrong_kinds_of_value_say_what_was_expected(text, found):
    assert any(found in p.format() for p in problems_of(text))


def test_override_value_is_validated_like_the_file():
    with pytest.raises(SpecError) as info:
        archspec.loads(BASE, filename="t.yaml", overrides=["training.samples=lots"])
    assert "expected an integer, found 'lots'" in info.value.problems[0].message
    spec = archspec.loads(BASE, overrides=["training.samples=2000", "model.networks.generator.B.table[0].kernel=5"])
    assert spec.training.samples == 2000
    assert spec.model.networks["generator"].parts["B"].table[0].kernel == 5


def test_a_validation_slice_that_is_also_a_test_slice_is_told_at_check_time():
    """No store is needed to see it: `archspec check` names the clash at the validation list."""
    from tests.spec_texts import TINY_SPEC

    text = TINY_SPEC.replace("  tile: 32\n", "  tile: 32\n  test_slices: [1]\n  validation_slices: [0, 1]\n")
    (problem,) = problems_of(text)
    assert problem.code == "validation_is_test" and problem.loc == ("data", "validation_slices")
    assert "apart from the test slices [1], found [1] in both" in problem.message
    assert (problem.line, problem.col) == locate(text, "[0, 1]", nth=1)  # the first is the redshifts
