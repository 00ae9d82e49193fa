"""`archspec diff` (exit status as diff's, costs, run folders, --set) and `archspec new --extends`."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec.cli import main as archspec_main
from archspec.text.yamlpos import parse

ROOT = Path(__file__).resolve().parents[3]
RUN = ROOT / "tests" / "data" / "run_v1"  # a run folder written by an earlier version
TINY = ROOT / "tests" / "data" / "tiny_v1.yaml"


def test_diff_exits_like_diff(capsys):
    assert archspec_main(["diff", str(TINY), str(TINY)]) == 0
    assert capsys.readouterr().out == "no differences\n"
    assert archspec_main(["diff", str(TINY), "--set", "training.seed=4"]) == 1
    assert archspec_main(["diff", str(TINY), str(ROOT / "examples" / "typos.yaml")]) == 2  # trouble: B is invalid
    assert archspec_main(["diff", str(TINY), str(ROOT / "nothere.yaml")]) == 2


def test_diff_reads_a_run_folder_on_either_side_and_set(capsys):
    assert archspec_main(["diff", str(RUN), str(TINY)]) == 0  # the old folder's spec, read under today's language
    captured = capsys.readouterr()
    assert captured.out == "no differences\n" and "data.on_device" in captured.err
    assert archspec_main(["diff", str(TINY), str(RUN), "--set", "training.samples=1000"]) == 1
    out = capsys.readouterr().out.splitlines()
    model = archspec.build(archspec.load(TINY))
    params = sum(p.numel() for p in model.parameters())
    assert out[0] == "training.samples: 480 -> 1000"
    assert out[1].startswith(f"whole model: parameters {params:,}, multiply-adds ") and out[1].endswith("(unchanged)")


def test_diff_says_what_the_deeper_generator_costs(capsys):
    assert (
        archspec_main(
            ["diff", str(ROOT / "specs" / "paper_cvae.yaml"), str(ROOT / "specs" / "variants" / "deep_generator.yaml")]
        )
        == 1
    )
    out = capsys.readouterr().out
    # a ResBlock: two 3x3 convolutions 128 -> 128 without bias, each with BatchNorm (256 parameters)
    block = 2 * (128 * 128 * 9 + 2 * 128)
    macs = 2 * 128 * 128 * 9 * 64 * 64  # per block, at the 64² bottleneck
    assert (
        f"generator.B row 4: parameters {4 * block:,} -> {8 * block:,} (+{4 * block:,}, +100%); "
        f"multiply-adds {4 * macs:,} -> {8 * macs:,} (+{4 * macs:,}, +100%)" in out
    )
    assert "model.networks.generator.B.table[4].repeat: 4 -> 8" in out


def test_new_writes_a_variant_whose_paths_work_from_where_it_is(tmp_path, capsys):
    out = tmp_path / "experiments" / "wide"
    base = ROOT / "specs" / "quickstart.yaml"
    assert archspec_main(["new", str(out), "--extends", str(base)]) == 0
    written = out.with_suffix(".yaml")
    text = written.read_text()
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (written.parent / first.split("=", 1)[1]).resolve() == ROOT / "specs" / "schema.json"
    data = parse(text).data
    assert (written.parent / data["extends"]).resolve() == base and not Path(data["extends"]).is_absolute()
    spec = archspec.load(written)
    assert spec.name == "wide" and spec.model == archspec.load(base).model
    assert archspec_main(["new", str(written), "--extends", str(base)]) == 2  # never overwritten
    assert written.read_text() == text and "exists" in capsys.readouterr().err
    assert archspec_main(["new", str(tmp_path / "two words.yaml"), "--extends", str(base)]) == 2


@pytest.mark.parametrize("base_name", ["quickstart.yaml", "paper_cvae.yaml", "regression.yaml"])
def test_each_example_of_a_new_variant_uncommented_is_a_valid_change_of_that_base(base_name, tmp_path, capsys):
    """Issue 21 item 5: the template's examples name the base's own rows (the paper spec's
    ResBlock is generator.B row 4, the quickstart's row 3), so each one works as written."""
    base = ROOT / "specs" / base_name
    out = tmp_path / "v.yaml"
    assert archspec_main(["new", str(out), "--extends", str(base)]) == 0
    text = out.read_text()
    examples = [line[4:].split("   #")[0].rstrip() for line in text.splitlines() if line.startswith("#   ")]
    assert len(examples) >= 3, text
    original = archspec.load(base)
    for example in examples:
        changed = tmp_path / "changed.yaml"
        changed.write_text(text + example + "\n")
        spec = archspec.load(changed)  # a valid spec, or SpecError
        assert spec.model_copy(update={"name": original.name, "description": original.description}) != original, example
