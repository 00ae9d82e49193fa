"""Tiled painting: exact where tiles agree, continuous where they do not, every pixel covered."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from runner.science.tiling import blend_weights, paint_tiled, tile_origins
from tests.seams import seam_jump

TILE, OVERLAP = 64, 16
SIZE_3X3 = 3 * (TILE - OVERLAP) + OVERLAP  # 160: exactly three tiles a side


def _smooth_field(seed: int, shape) -> np.ndarray:
    """A positive, smooth map (correlation length ~4 pixels), like a transformed density."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    smooth = ndimage.gaussian_filter(noise, 4, mode="wrap")
    return (1 + 0.3 * smooth / smooth.std()).astype(np.float32)


def _pointwise(batch: np.ndarray) -> np.ndarray:
    """A position-equivariant painter without edge effects: every tiling must reproduce it."""
    return np.tanh(batch[:, :1]) * np.exp(batch[:, -1:])


@pytest.mark.parametrize("shape", [(SIZE_3X3, SIZE_3X3), (SIZE_3X3 + 13, SIZE_3X3 + 29), (TILE, 100)])
def test_tiles_that_agree_reproduce_the_whole_map_exactly(shape):
    dm = np.stack([_smooth_field(0, shape), _smooth_field(1, shape)])  # (C=2, H, W)
    painted = paint_tiled(_pointwise, dm, tile=TILE, overlap=OVERLAP, batch_size=4)
    assert painted.shape == (1, *shape) and painted.dtype == np.float32
    np.testing.assert_allclose(painted[0], _pointwise(dm[None])[0, 0], rtol=1e-6, atol=1e-6)
    # A 2-D map in gives a 2-D map out.
    identity = paint_tiled(lambda b: b, dm[0], tile=TILE, overlap=OVERLAP)
    np.testing.assert_allclose(identity, dm[0], rtol=1e-6)


# A blur with zero ('same') padding and an off-centre kernel: tiles are wrong near one of their
# borders, so unblended tiles jump at every seam, as a generator's edge effects would.
_KERNEL_1D = np.exp(-0.5 * ((np.arange(-6, 7) - 3) / 2.0) ** 2)
_KERNEL = np.outer(_KERNEL_1D, _KERNEL_1D) / np.outer(_KERNEL_1D, _KERNEL_1D).sum()


def _blur(image: np.ndarray) -> np.ndarray:
    return ndimage.convolve(image, _KERNEL, mode="constant")


def _blur_batch(batch: np.ndarray) -> np.ndarray:
    return np.stack([[_blur(channel) for channel in tile] for tile in batch])


def _seam_jump(painted: np.ndarray, reference: np.ndarray, overlap: int) -> float:
    return seam_jump(painted, reference, tile=TILE, overlap=overlap, margin=10)


def test_blended_seams_are_continuous_even_when_tiles_disagree():
    dm = _smooth_field(2, (SIZE_3X3, SIZE_3X3))
    reference = _blur(dm.astype(np.float64))  # the whole map painted at once
    typical_gradient = np.median(np.abs(np.diff(reference, axis=1))[10:-10, 10:-10])

    blended = paint_tiled(_blur_batch, dm, tile=TILE, overlap=OVERLAP)
    hard = paint_tiled(_blur_batch, dm, tile=TILE, overlap=0)
    blended_jump = _seam_jump(blended, reference, OVERLAP)
    hard_jump = _seam_jump(hard, reference, 0)

    assert blended_jump < typical_gradient, (blended_jump, typical_gradient)  # measured: 5x below
    assert hard_jump > 20 * blended_jump, (hard_jump, blended_jump)  # measured: 235x


def test_a_map_of_exactly_one_tile_is_painted_in_one_call():
    calls = []

    def painter(batch):
        calls.append(batch.shape)
        return batch * 2

    dm = _smooth_field(3, (TILE, TILE))
    np.testing.assert_allclose(paint_tiled(painter, dm, tile=TILE, overlap=OVERLAP), 2 * dm)
    assert calls == [(1, 1, TILE, TILE)]


def test_batches_hold_at_most_batch_size_tiles_and_do_not_change_the_result():
    calls = []

    def painter(batch):
        calls.append(len(batch))
        return np.sin(batch)

    dm = _smooth_field(4, (SIZE_3X3, SIZE_3X3 + 5))  # 3 x 4 tiles
    painted = paint_tiled(painter, dm, tile=TILE, overlap=OVERLAP, batch_size=5)
    assert calls == [5, 5, 2]
    np.testing.assert_allclose(painted, paint_tiled(np.sin, dm, tile=TILE, overlap=OVERLAP, batch_size=1))


def test_progress_bar_is_shown_when_asked(capsys):
    paint_tiled(np.sin, _smooth_field(5, (100, 100)), tile=TILE, overlap=OVERLAP, progress=True)
    assert "painting" in capsys.readouterr().err


@pytest.mark.parametrize(
    "shape, tile, overlap, painter, message",
    [
        ((63, 200), 64, 16, np.sin, "smaller than the tile"),
        ((64, 64), 64, 64, np.sin, "overlap < tile"),
        ((64, 64), 64, -1, np.sin, "overlap < tile"),
        ((64, 64), 64, 8, lambda b: b[:, :, :32], "paint_fn must return"),
        ((2, 3, 64, 64), 64, 8, np.sin, "(H, W) or (C, H, W)"),
    ],
)
def test_bad_geometry_or_painter_is_a_clear_error(shape, tile, overlap, painter, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        paint_tiled(painter, np.zeros(shape, np.float32), tile=tile, overlap=overlap)


geometry = st.integers(1, 96).flatmap(
    lambda tile: st.tuples(st.integers(tile, 400), st.just(tile), st.integers(0, tile - 1))
)


@settings(max_examples=300, deadline=None)
@given(geometry)
def test_tiles_cover_every_pixel_with_the_fewest_tiles_and_weights_sum_to_one(args):
    size, tile, overlap = args
    origins = tile_origins(size, tile, overlap)
    assert origins[0] == 0 and origins[-1] == size - tile
    assert all(b - a > 0 and a + tile - b >= overlap for a, b in zip(origins, origins[1:]))
    assert len(origins) == math.ceil((size - overlap) / (tile - overlap))

    weights = blend_weights(size, tile, overlap)
    assert weights.shape == (len(origins), tile)
    assert np.all(weights > 0)
    total = np.zeros(size)
    for origin, w in zip(origins, weights):
        total[origin : origin + tile] += w
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(geometry.filter(lambda g: g[0] <= 150), st.integers(0, 60))
def test_tiling_the_identity_returns_the_map(args, extra_width):
    size, tile, overlap = args
    dm = np.random.default_rng(size).standard_normal((size, size + extra_width)).astype(np.float32)
    painted = paint_tiled(lambda b: b, dm, tile=tile, overlap=overlap)
    np.testing.assert_allclose(painted, dm, rtol=1e-5, atol=1e-6)
