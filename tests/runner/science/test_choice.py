"""Which test samples an evaluation paints, the dark matter around them, and the context margin."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.presenting.show import summary_data
from runner.data import SampleSpace, StoreWriter, TileDataset
from runner.science.choice import centre, choose_samples, context_margin, describe_choice, read_windows
from tests.spec_texts import BASE, TINY_REGRESSION

ROOT = Path(__file__).resolve().parents[3]


def _space(grid: int, tile: int, n_slices: int, n_z: int = 2) -> SampleSpace:
    store = SimpleNamespace(grid=grid, n_slices=n_slices, redshifts=tuple(np.linspace(0, 2, n_z)), path=Path("s.h5"))
    return SampleSpace(store, tile=tile, split="test", test_slices=list(range(n_slices - 1, n_slices)))


@settings(max_examples=60, deadline=None)
@given(per_side=st.sampled_from([1, 2, 3, 4]), n=st.integers(1, 300), seed=st.integers(0, 10**6), zi=st.integers(0, 1))
def test_choice_is_independent_first_then_balanced_and_never_repeats(per_side, n, seed, zi):
    space = _space(grid=32 * per_side, tile=32, n_slices=2)
    m = space.per_depth  # per_side^2 tiles of one depth in the one test slice
    idx = choose_samples(space, zi, n, np.random.default_rng(seed))
    d = space.decode(idx)
    assert len(idx) == min(n, m * m) and len(set(idx.tolist())) == len(idx)  # distinct combinations
    assert (d["z"] == zi).all()
    first = slice(0, min(n, m))  # the first M share no tile of either depth
    for depth in (100, 150):
        assert len(set(d[f"tile_{depth}"][first].tolist())) == min(n, m)
        uses = np.bincount(d[f"tile_{depth}"], minlength=m)
        assert uses.max() - uses.min() <= 1  # every tile used as often as any other, give or take one
    info = describe_choice(space, idx)
    assert info["independent"] == min(len(idx), m) and info["available"] == m * m
    assert info["max_uses_of_a_tile"] == -(-len(idx) // m)


def test_choice_of_all_takes_every_combination_once():
    space = _space(grid=96, tile=32, n_slices=2)
    idx = choose_samples(space, 1, None, np.random.default_rng(0))
    assert sorted(idx.tolist()) == list(range(81, 162))  # z index 1 of 2: combinations 81 .. 161


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Slices whose pixel value encodes where it is: 1000 slice + 100 depth/50 + row/grid + col/grid^2."""
    root = tmp_path_factory.mktemp("choice")
    grid = 64
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    paths = {}
    for name, attrs in (("periodic", None), ("sub-box", {"periodic": 0})):
        paths[name] = root / f"{name}.h5"
        with StoreWriter(paths[name], grid=grid, n_slices=2, redshifts=[0.0], provenance="test", attrs=attrs) as w:
            for depth in (100, 150):
                for s in range(2):
                    code = 1000 * s + 100 * depth / 50 + rows + cols / grid
                    w.write("dm", 0.0, depth, s, code + 1.0)
                    w.write("pressure", 0.0, depth, s, code + 2.0)
    return paths


def test_windows_without_margin_are_the_tiles_the_training_reads(store):
    data = TileDataset(store["periodic"], tile=32, split="test")
    idx = choose_samples(data.space, 0, None, np.random.default_rng(1))
    windows = read_windows(data, idx, 0)
    tiles, _ = data.tiles(idx)
    assert windows.keys() == tiles.keys()
    for key in tiles:
        np.testing.assert_array_equal(windows[key], tiles[key])


@pytest.mark.parametrize("kind", ["periodic", "sub-box"])
def test_windows_wrap_around_a_periodic_slice_and_mirror_a_sub_box(store, kind):
    data = TileDataset(store[kind], tile=32, split="test")
    idx = choose_samples(data.space, 0, None, np.random.default_rng(2))
    margin = 5
    windows = read_windows(data, idx, margin)
    d = data.space.decode(idx)
    full = data.store.dataset("dm", 0.0, 150)[1]  # the one test slice
    for k in range(len(idx)):
        r0, c0 = int(d["row_150"][k]) * 32 - margin, int(d["col_150"][k]) * 32 - margin
        if kind == "periodic":
            expected = np.roll(full, (-r0, -c0), axis=(0, 1))[:42, :42]
        else:  # numpy's "reflect" mirrors without repeating the edge pixel
            padded = np.pad(full, margin, mode="reflect")
            expected = padded[r0 + margin : r0 + margin + 42, c0 + margin : c0 + margin + 42]
        np.testing.assert_array_equal(windows[("dm", 150)][k], expected)
        np.testing.assert_array_equal(
            centre(windows[("dm", 150)][k], margin), data.tiles(idx[k : k + 1])[0][("dm", 150)][0]
        )


@pytest.mark.parametrize(
    "text",
    [
        BASE,
        TINY_REGRESSION,
        (ROOT / "specs" / "quickstart.yaml").read_text(),
        (ROOT / "specs" / "paper_cvae.yaml").read_text(),
    ],
    ids=["tiny", "regression", "quickstart", "paper"],
)
def test_context_margin_covers_half_the_receptive_field_and_the_model_accepts_the_window(text):
    spec = archspec.loads(text)
    tile = spec.model.shapes["y"][1]
    margin = context_margin(spec, tile)
    shown = summary_data(spec)  # the receptive fields `archspec show` prints
    widest = max(net["layers"][-1]["rf"].get("y", 0) for net in shown["networks"].values())
    assert 2 * margin >= widest
    assert context_margin(spec, tile, 0) == 0 and context_margin(spec, tile, margin) == margin
    if tile > 64:
        return  # the paper's 768^2 window costs seconds on a CPU; the quickstart proves the same
    model = archspec.build(spec).eval()
    window = tile + 2 * margin
    y = torch.rand(1, 2, window, window)
    with torch.no_grad():
        out = model.generator(z=model.prior(y=y)[0], y=y) if spec.model.kind == "cvae" else model(y=y)
    assert out.shape[-2:] == (window, window)
