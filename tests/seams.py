"""How far a tiled painting jumps across its tile edges: shared by the painting tests."""

from __future__ import annotations

import numpy as np

from runner.science.tiling import tile_origins


def seam_jump(painted: np.ndarray, reference: np.ndarray, *, tile: int, overlap: int, margin: int) -> float:
    """Largest step across a tile edge beyond the reference's own step there, ``margin`` pixels
    from the map's border excluded (the border has no neighbour to blend with)."""
    size = painted.shape[0]
    origins = tile_origins(size, tile, overlap)
    edges = {o for o in origins if o > 0} | {o + tile for o in origins if o + tile < size}
    worst = 0.0
    for edge in edges:
        for axis in (0, 1):
            step = np.take(painted, edge, axis) - np.take(painted, edge - 1, axis)
            true_step = np.take(reference, edge, axis) - np.take(reference, edge - 1, axis)
            worst = max(worst, float(np.abs(step - true_step)[margin:-margin].max()))
    return worst
