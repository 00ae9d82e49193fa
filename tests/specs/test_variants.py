"""The shipped variants: each a few lines over its base with a one-line hypothesis, each valid,
and each quickstart variant trains (briefly) through the runner's Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec.language.dump import to_data
from archspec.presenting.diff import diff_paths
from archspec.text.yamlpos import parse

ROOT = Path(__file__).resolve().parents[2]
PAPER = sorted((ROOT / "specs" / "variants").glob("*.yaml"))
QUICK = sorted((ROOT / "specs" / "variants" / "quickstart").glob("*.yaml"))
VARIANTS = PAPER + QUICK
KINDS = ("deep_generator", "free_latent", "laptop", "seed_1")  # and one tile size each


def test_every_paper_variant_has_a_quickstart_twin():
    """But for a tile size each, and the quickstart's uncalibrated painting and paper loss: the
    paper spec paints as the paper (calibration none) and trains on the paper's loss alone (no
    spectral term), so their twin is the paper spec itself."""
    assert len(PAPER) == 6 and len(QUICK) == 8
    assert {p.name for p in PAPER} - {q.name for q in QUICK} == {"tiles_256.yaml"}
    assert {q.name for q in QUICK} - {p.name for p in PAPER} == {
        "tiles_32.yaml",
        "uncalibrated.yaml",
        "paper_loss.yaml",
    }


@pytest.mark.parametrize("path", VARIANTS, ids=[str(p.relative_to(ROOT / "specs" / "variants")) for p in VARIANTS])
def test_variant_is_short_says_its_hypothesis_and_is_valid(path):
    lines = path.read_text().splitlines()
    assert len(lines) < 25
    assert (
        lines[0].startswith("# yaml-language-server: $schema=")
        and (path.parent / lines[0].split("=", 1)[1]).resolve() == ROOT / "specs" / "schema.json"
    )
    assert lines[1].startswith("# Hypothesis: ") and not lines[2].startswith("#   ")  # one line
    data = parse(path.read_text()).data
    assert (path.parent / data["extends"]).resolve() in {
        ROOT / "specs" / "paper_cvae.yaml",
        ROOT / "specs" / "quickstart.yaml",
    }
    spec = archspec.load(path)
    assert spec.name == data["name"]


def _changed(base: str, variant: Path) -> dict:
    changes = diff_paths(to_data(archspec.load(ROOT / "specs" / base)), to_data(archspec.load(variant)))
    return {p: (a, b) for p, a, b in changes if p not in {("name",), ("description",)}}


def test_free_latent_changes_exactly_the_two_heads():
    changes = _changed("paper_cvae.yaml", ROOT / "specs" / "variants" / "free_latent.yaml")
    heads = [("model", "networks", "recognition", "C", "table", 0), ("model", "networks", "prior", "A", "table", 3)]
    assert changes == {
        h + (cell,): change
        for h in heads
        for cell, change in (("batchnorm", (True, False)), ("activation", ("ReLU", "none")))
    }


def test_tile_variant_changes_only_the_input_size_and_data():
    changes = _changed("paper_cvae.yaml", ROOT / "specs" / "variants" / "tiles_256.yaml")
    assert changes == {
        ("model", "shapes", "x", 1): (512, 256),
        ("model", "shapes", "x", 2): (512, 256),
        ("model", "shapes", "y", 1): (512, 256),
        ("model", "shapes", "y", 2): (512, 256),
        ("model", "shapes", "z", 1): (16, 8),
        ("model", "shapes", "z", 2): (16, 8),
        ("data", "tile"): (512, 256),
    }


def test_deep_generator_has_eight_residual_blocks():
    spec = archspec.load(ROOT / "specs" / "variants" / "deep_generator.yaml")
    rows = spec.model.networks["generator"].parts["B"].table
    assert [(r.block, r.repeat) for r in rows if hasattr(r, "block")] == [("ResBlock", 8)]
    assert set(_changed("paper_cvae.yaml", ROOT / "specs" / "variants" / "deep_generator.yaml")) == {
        ("model", "networks", "generator", "B", "table", 4, "repeat")
    }


@pytest.mark.parametrize("path", QUICK, ids=[p.stem for p in QUICK])
def test_quickstart_variant_trains(path, tmp_path):
    from runner.train.recipe import train

    spec = archspec.load(path, ["training.log_every=8"])  # a record per step or so
    out = tmp_path / spec.name
    assert train(spec, out, quiet=True, evaluate=False, max_samples=16) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records and all(r["elbo"] == r["elbo"] for r in records)  # no NaN
    saved = (out / "spec.yaml").read_text()
    assert "extends" not in saved and "scale" not in saved  # the run keeps the resolved spec
    assert archspec.spec_hash(archspec.loads(saved)) == archspec.spec_hash(spec)
