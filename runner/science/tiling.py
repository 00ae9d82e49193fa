"""Painting maps larger than the generator's tile, tile by tile, with blended seams.

The generator paints a fixed tile (512² in the paper); the original painted whole slices and
light cones with overlapping tiles. Here each tile's painting is weighted by a smooth window
that ramps (raised cosine) across the overlap with each neighbour, and the weights are
normalised so that they sum to one at every pixel: where the tiles agree the result is exactly
what one would get from painting the whole map at once, and where they do not (edge effects of
the convolutions, a different latent sample per tile) the transition is smooth.

This module is torch-free: ``paint_fn`` is whatever applies the generator to a batch of tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

PaintFn = Callable[[np.ndarray], np.ndarray]  # (N, C, tile, tile) -> (N, C_out, tile, tile)


def tile_origins(size: int, tile: int, overlap: int) -> list[int]:
    """First pixel of every tile along one axis.

    Tiles step by ``tile − overlap``; where that does not fit the size, the last tile is shifted
    back to end at the edge (so it overlaps its neighbour by more than ``overlap``). This is the
    fewest tiles with that stride that cover the axis: ceil((size − overlap) / (tile − overlap)).

    Args:
        size: length of the axis [pixels]; at least ``tile``.
        tile: tile length [pixels].
        overlap: requested overlap of neighbouring tiles [pixels], 0 <= overlap < tile.

    Returns:
        Increasing origins, the first 0 and the last ``size − tile``.
    """
    _check_geometry(size, tile, overlap)
    stride = tile - overlap
    return list(range(0, size - tile, stride)) + [size - tile]


def blend_weights(size: int, tile: int, overlap: int) -> np.ndarray:
    """Normalised 1-D blending weights of every tile along one axis.

    A tile's raw window is 1, times a raised-cosine ramp sin²(π/2 · (j + ½)/m) over the m
    pixels it shares with each neighbour (none at the map's edges, which only one tile covers).
    The ramp of one tile and the mirrored ramp of its neighbour sum to one, and dividing by the
    summed windows keeps that exact where the last, shifted tile overlaps more. The 2-D weight
    of a tile is the outer product of its two 1-D weights, which then also sums to one.

    Args:
        size, tile, overlap: as for ``tile_origins``.

    Returns:
        (n_tiles, tile) weights, row i for the tile at ``tile_origins(...)[i]``; positive, and
        at every pixel of the axis the rows covering it sum to one.
    """
    origins = tile_origins(size, tile, overlap)
    windows = np.ones((len(origins), tile))
    for i in range(len(origins) - 1):
        shared = origins[i] + tile - origins[i + 1]  # pixels tiles i and i+1 have in common
        if shared > 0:
            ramp = np.sin(0.5 * np.pi * (np.arange(shared) + 0.5) / shared) ** 2  # rises 0 -> 1
            windows[i, tile - shared :] *= ramp[::-1]
            windows[i + 1, :shared] *= ramp
    total = np.zeros(size)
    for origin, window in zip(origins, windows):
        total[origin : origin + tile] += window
    return np.stack([w / total[o : o + tile] for o, w in zip(origins, windows)])


def paint_tiled(
    paint_fn: PaintFn,
    dm: np.ndarray,
    *,
    tile: int,
    overlap: int,
    batch_size: int = 8,
    progress: bool = False,
) -> np.ndarray:
    """Paint a map of any size at least ``tile`` with a tile-sized painter, blending the seams.

    Args:
        paint_fn: maps a (N, C, tile, tile) float32 batch to (N, C_out, tile, tile) paintings
            (a numpy array, or a tensor with ``.detach()``). N <= ``batch_size``.
        dm: (H, W) or (C, H, W) generator inputs, already transformed, H and W >= ``tile``.
        tile: tile size [pixels], the generator's input size.
        overlap: overlap of neighbouring tiles [pixels], 0 <= overlap < tile. An overlap of
            a few times the generator's receptive-field edge effects hides them.
        batch_size: tiles per ``paint_fn`` call.
        progress: show a tqdm progress bar over batches (on stderr).

    Returns:
        float32 painting: (H, W) when ``dm`` is 2-D and ``paint_fn`` gives one channel, else
        (C_out, H, W).

    Raises:
        ValueError: the map is smaller than the tile, the geometry is invalid, or ``paint_fn``
            returns the wrong shape.
    """
    x = np.asarray(dm, dtype=np.float32)
    flat_input = x.ndim == 2
    x = x[None] if flat_input else x  # (C, H, W)
    if x.ndim != 3:
        raise ValueError(f"dm must be (H, W) or (C, H, W). Received: shape={np.shape(dm)}")
    _, height, width = x.shape
    if min(height, width) < tile:
        raise ValueError(
            f"the map is smaller than the tile: cannot paint {height}x{width} pixels with "
            f"{tile}x{tile} tiles; pad the map or paint with a smaller tile. "
            f"Received: dm.shape={np.shape(dm)}, tile={tile}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    rows = list(zip(tile_origins(height, tile, overlap), blend_weights(height, tile, overlap)))
    cols = list(zip(tile_origins(width, tile, overlap), blend_weights(width, tile, overlap)))
    tiles = [(r, c) for r in rows for c in cols]  # row-major: ((y, wy), (x, wx))

    out = None  # allocated once the first batch tells the number of output channels
    for batch in _batches(tiles, batch_size, progress):
        inputs = np.stack([x[:, y : y + tile, xo : xo + tile] for (y, _), (xo, _) in batch])
        painted = _check_painted(paint_fn(inputs), len(batch), tile)  # (N, C_out, tile, tile)
        if out is None:
            out = np.zeros((painted.shape[1], height, width))  # float64: sums of many weights
        for p, ((y, wy), (xo, wx)) in zip(painted, batch):
            out[:, y : y + tile, xo : xo + tile] += p * np.outer(wy, wx)
    out = out.astype(np.float32)
    return out[0] if flat_input and out.shape[0] == 1 else out


def _check_geometry(size: int, tile: int, overlap: int) -> None:
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile. Received: tile={tile}, overlap={overlap}")
    if size < tile:
        raise ValueError(f"the axis is shorter than the tile. Received: size={size}, tile={tile}")


def _batches(items: list, batch_size: int, progress: bool) -> Iterator[list]:
    starts = range(0, len(items), batch_size)
    if progress:
        from tqdm import tqdm  # only when asked: keeps the import light for library use

        starts = tqdm(starts, total=math.ceil(len(items) / batch_size), desc="painting", unit="batch")
    for start in starts:
        yield items[start : start + batch_size]


def _check_painted(painted, n: int, tile: int) -> np.ndarray:
    if hasattr(painted, "detach"):  # a torch tensor, without importing torch
        painted = painted.detach().cpu().numpy()
    painted = np.asarray(painted, dtype=np.float64)
    if painted.ndim != 4 or painted.shape[0] != n or painted.shape[2:] != (tile, tile):
        raise ValueError(
            f"paint_fn must return (N, C_out, {tile}, {tile}) for a batch of N={n} tiles. "
            f"Received: shape={painted.shape}"
        )
    return painted
