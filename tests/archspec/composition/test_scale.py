"""`model.scale`: the same model wider or narrower, deeper or shallower, by the stated rules."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import archspec
from archspec.composition.scale import exact, times
from archspec.language.errors import SpecError

ROOT = Path(__file__).resolve().parents[3]
QUICK = ROOT / "specs" / "quickstart.yaml"


@given(st.integers(1, 100_000), st.fractions(Fraction(1, 64), 64))
def test_width_rounds_to_the_nearest_count_and_never_to_zero(count, factor):
    scaled = times(count, factor)
    assert scaled >= 1
    if count * factor >= Fraction(1, 2):
        assert abs(scaled - count * factor) <= Fraction(1, 2)
    assert times(count + 1, factor) >= scaled  # more in, never fewer out
    assert times(count, Fraction(1)) == count


def test_halves_round_up_and_decimals_are_taken_as_written():
    assert [times(c, Fraction(1, 2)) for c in (1, 3, 5, 24, 25)] == [1, 2, 3, 12, 13]
    assert exact(0.1) == Fraction(1, 10) and times(5, exact(0.1)) == 1  # 5 x 0.1 = 0.5 exactly: up, to 1
    assert times(3, exact(0.25)) == 1 and times(6, exact(0.25)) == 2  # 0.75 -> 1, 1.5 -> 2


def _channels(spec, network, part):
    return [
        str(r.channels) if hasattr(r, "channels") else f"{r.block} x{r.repeat}"
        for r in spec.model.networks[network].parts[part].table
    ]


def test_half_width_and_depth_of_the_quickstart_by_hand():
    spec = archspec.load(QUICK, ["model.scale.width=0.5", "model.scale.depth=0.5"])
    assert spec.model.scale is None  # applied: the resolved spec has the numbers, not the knob
    assert [str(r.channels) for r in spec.model.blocks["ResBlock"].table] == ["16/16", "16/16"]
    assert _channels(spec, "recognition", "A") == ["1/4", "4/8"]
    assert _channels(spec, "recognition", "C") == ["16/2"]  # 8 + 8 in; 2·C_z out, fixed by the contract
    assert _channels(spec, "prior", "A") == ["2/4", "4/8", "8/2"]
    assert _channels(spec, "generator", "A") == ["1/1", "1/1"]  # 1 x 0.5 rounds up to 1
    assert _channels(spec, "generator", "B") == [
        "3/4",
        "4/8",
        "8/16",
        "ResBlock x1",
        "16/8",
        "8/4",
        "4/2",
        "2/1",
        "1/1",
    ]
    assert spec.model.shapes == archspec.load(QUICK).model.shapes
    model = archspec.build(spec)
    # prior: Conv 2->4 k4, 4->8 k8, 8->2 k5, no bias, each with BatchNorm (2 parameters a channel)
    assert sum(p.numel() for p in model.prior.parameters()) == (2 * 4 * 16 + 8) + (4 * 8 * 64 + 16) + (8 * 2 * 25 + 4)
    out = model(x=torch.randn(2, 1, 64, 64), y=torch.randn(2, 2, 64, 64))
    assert tuple(out.x_mean.shape) == (2, 1, 64, 64) and tuple(out.q_mean.shape) == (2, 1, 8, 8)


def test_a_regression_painter_keeps_xs_channels():
    spec = archspec.load(ROOT / "specs" / "regression.yaml", ["model.scale.width=0.5"])
    assert _channels(spec, "painter", "B")[-3:] == ["8/4", "4/1", "1/1"]


def test_a_scaled_spec_is_saved_scaled_once(tmp_path):
    by_set = archspec.load(QUICK, ["model.scale.width=0.5"])
    path = tmp_path / "half.yaml"
    path.write_text("extends: " + str(QUICK) + "\nname: quickstart\nmodel.scale: {width: 0.5}\n")
    in_file = archspec.load(path)
    assert archspec.spec_hash(in_file) != archspec.spec_hash(archspec.load(QUICK))
    assert in_file.model_dump(exclude={"description"}) == by_set.model_dump(exclude={"description"})
    assert archspec.loads(archspec.dump(by_set)) == by_set  # no scale left to apply a second time
    assert archspec.spec_hash(archspec.load(QUICK, ["model.scale.width=1"])) == archspec.spec_hash(archspec.load(QUICK))


def test_a_width_of_zero_is_an_error_at_its_line(tmp_path):
    path = tmp_path / "zero.yaml"
    path.write_text(QUICK.read_text().replace("  kind: cvae\n", "  kind: cvae\n  scale: {width: 0}\n"))
    with pytest.raises(SpecError) as err:
        archspec.load(path)
    (problem,) = err.value.problems
    line = path.read_text().splitlines().index("  scale: {width: 0}") + 1
    assert (problem.line, problem.col, problem.loc) == (
        line,
        "  scale: {width: 0}".index("0}") + 1,
        ("model", "scale", "width"),
    )


def test_a_wrong_in_count_is_still_reported_after_scaling():
    with pytest.raises(SpecError) as err:
        archspec.load(QUICK, ["model.networks.generator.B.table[1].channels=9/16", "model.scale.width=0.5"])
    assert "row says 9 channels in" in err.value.report()
