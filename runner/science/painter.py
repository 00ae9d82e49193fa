"""Applying a trained generator: a checkpoint in, painted pressure in physical units out.

    painter = Painter.load("runs/quickstart")        # a run folder (its latest checkpoint) or a file
    pressure = painter.paint_map(dm, z=0.5)           # (H, W) dark matter (1 + delta) -> pressure
    pressure = painter.paint_map(dm, 0.5, samples=4)  # (4, H, W): four draws of the latent

A map goes through the transform the model was trained with: y = [ln(dm / sigma_dm(z) + 1) / 4,
z], the generator paints t, and pressure = (exp(4 t) - 1) * sigma_p(z). Maps larger than the
generator's tile are painted tile by tile with overlapping, blended seams
(:func:`runner.science.tiling.paint_tiled`). By default the latent is the prior's mean, as the original
painted; ``samples=K`` draws K latents per map, one independent draw from p(z|y) per tile.

The transform's statistics (sigma_z per redshift) come from the checkpoint when it carries them
(key ``transforms``), else from the tile store its spec names (or ``data=``), with a note.
File formats in and out are in :mod:`runner.science.painted_files`.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import archspec
from runner import checkpoint as ck
from runner.science.tiling import paint_tiled
from runner.kinds import KINDS
from runner.runtime import resolve_device, seeded
from runner.data.transforms import ShiftLog

KEY_TRANSFORMS = ck.KEY_TRANSFORMS  # the transforms' statistics: {"dm": ShiftLog.to_config(), "pressure": ...}
OVERLAP_FRACTION = 4  # default overlap: a quarter of the tile (128 px of the paper's 512)


class PaintError(Exception):
    """Painting cannot go ahead; the message is one line and names the file or the map."""


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


class Painter:
    """A trained generator on a device, in eval mode, with the transforms it was trained with.

    Args:
        model: the compiled CVAE (``archspec.build``), weights loaded.
        spec: its spec.
        transforms: {"dm": ShiftLog, "pressure": ShiftLog}.
        device: where the model runs.
        provenance: plain data describing where the model came from (written into outputs).
    """

    def __init__(self, model: torch.nn.Module, spec, transforms: dict, device: torch.device,
                 provenance: dict | None = None):
        self.model = model.to(device).train(False)  # eval mode: BatchNorm uses its running statistics
        self.spec = spec
        self.transforms = transforms
        self.device = torch.device(device)
        self.provenance = dict(provenance or {})
        self.test_split = None  # the store's test split, when load() had to open it for the transforms
        channels, height, width = spec.model.shapes["y"]
        if height != width or channels != 2:
            raise PaintError(f"{spec.name}: painting needs square tiles and y = [dark matter, z]. "
                             f"Received: y shape={list(spec.model.shapes['y'])}")
        self.tile = int(height)
        self.kind = KINDS.get(spec.model.kind)  # how this kind paints

    @classmethod
    def load(cls, checkpoint: str | Path, device: str = "auto", data: str | None = None,
             warn: Callable[[str], None] = _stderr) -> "Painter":
        """A painter from a checkpoint file, or from a run folder's latest good checkpoint.

        Args:
            checkpoint: a ``checkpoint-<n>.pt`` or a run folder.
            device: 'auto' (cuda when available), 'cpu' or 'cuda'.
            data: tile store for the transform's statistics when the checkpoint carries none
                (default: the store its spec names; 'mock' is generated into the cache).
            warn: where notes go (one line each).

        Raises:
            CheckpointError: unreadable, incomplete, or its weights do not fit its spec.
            RunError: the device is not available. DataError: the fallback store is bad.
        """
        target = resolve_device(device)
        state, path = read_checkpoint(checkpoint, warn)
        model, spec = model_from_state(state, path)
        transforms, source, test_split = transforms_from_state(state, spec, path, data, warn)
        provenance = {
            "checkpoint": str(path.resolve()),
            "checkpoint_sha256": file_sha256(path),
            "samples_seen": int(state[ck.KEY_SAMPLES]),
            "spec_name": spec.name,
            "spec_hash": str(state[ck.KEY_SPEC_HASH]),
            "transform_source": source,
        }
        painter = cls(model, spec, transforms, target, provenance)
        painter.test_split = test_split
        return painter

    # -- painting ----------------------------------------------------------------------------
    def network_input(self, dm: np.ndarray, z: float) -> np.ndarray:
        """y for one (H, W) dark-matter map at redshift z: (2, H, W) float32."""
        sigma = float(self.transforms["dm"].sigma(z))
        low = float(np.min(dm))
        if not np.all(np.isfinite(dm)):
            raise PaintError("the dark-matter map has NaN or infinite values")
        if low <= -sigma:
            raise PaintError(f"the dark-matter map reaches {low:g}, at or below -sigma_z = {-sigma:g} "
                             f"(z = {z:g}), where the shift-log transform is undefined; dark matter "
                             f"must be a projected density in units of the mean (1 + delta)")
        t = self.transforms["dm"].forward(np.asarray(dm, dtype=np.float64), z)
        return np.stack([t, np.full_like(t, z)]).astype(np.float32)

    def paint_tiles(self, y: np.ndarray, sample: bool = False) -> np.ndarray:
        """The generator's mean of x for a batch of tiles y (N, 2, T, T): (N, 1, T, T), in
        network units. ``sample``: z drawn from the prior per tile, else z = the prior's mean."""
        with torch.no_grad():
            y = torch.from_numpy(np.ascontiguousarray(y)).to(self.device)
            out = self.kind.paint(self.model, y, "sample" if sample else "mean")
        return out.float().cpu().numpy()

    def paint_map(self, dm: np.ndarray, z: float, *, samples: int = 0, overlap: int | None = None,
                  seed: int = 0, batch_size: int = 8,
                  on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Paint pressure onto one dark-matter map, in physical units.

        Args:
            dm: (H, W) projected dark-matter density in units of the mean, H, W >= the tile.
            z: its redshift.
            samples: 0 paints with z = the prior's mean (H, W); K > 0 gives (K, H, W), each a
                fresh draw of the latent per tile.
            overlap: of neighbouring tiles [pixels]; default a quarter of the tile.
            seed: of the latent draws (the result depends on it and nothing else).
            batch_size: tiles per call of the generator.
            on_batch: called with the number of tiles of each batch (progress bars).

        Returns:
            float32 pressure (H, W), or (K, H, W) when ``samples`` > 0.
        """
        overlap = self.check_geometry(np.shape(dm), overlap)
        y = self.network_input(dm, z)  # (2, H, W)
        draws = []
        with seeded(self.device, seed):  # the caller's random stream is untouched
            paint = self._paint_fn(samples > 0, on_batch)
            for _ in range(max(samples, 1)):  # (1, H, W) each: y is (C, H, W)
                draws.append(paint_tiled(paint, y, tile=self.tile, overlap=overlap, batch_size=batch_size)[0])
        t = np.stack(draws)  # (K, H, W)
        pressure = self.transforms["pressure"].inverse(t.astype(np.float64), z).astype(np.float32)
        return pressure if samples > 0 else pressure[0]

    def _paint_fn(self, sample: bool, on_batch):
        def paint(y: np.ndarray) -> np.ndarray:  # (N, 2, T, T) -> (N, 1, T, T)
            out = self.paint_tiles(y, sample)
            if on_batch is not None:
                on_batch(len(y))
            return out
        return paint

    def check_geometry(self, shape: tuple, overlap: int | None) -> int:
        """The overlap to use for a map of ``shape`` (..., H, W); PaintError when it cannot fit."""
        overlap = self.tile // OVERLAP_FRACTION if overlap is None else int(overlap)
        if not 0 <= overlap < self.tile:
            raise PaintError(f"--overlap must be in [0, {self.tile}) for {self.tile}-pixel tiles. "
                             f"Received: overlap={overlap}")
        height, width = shape[-2:]
        if min(height, width) < self.tile:
            raise PaintError(f"a {height}x{width} map is smaller than the generator's {self.tile}x{self.tile} "
                             f"tile; paint maps of at least {self.tile} pixels a side (pad smaller ones)")
        return overlap

    def tiles_per_map(self, shape: tuple, overlap: int | None) -> int:
        """How many tiles one (..., H, W) map takes (for progress bars)."""
        from runner.science.tiling import tile_origins

        overlap = self.check_geometry(shape, overlap)
        return len(tile_origins(shape[-2], self.tile, overlap)) * len(tile_origins(shape[-1], self.tile, overlap))

    @property
    def redshift_range(self) -> tuple[float, float]:
        """The redshifts of the transform's statistics: the range the model was trained on."""
        zs = self.transforms["pressure"].redshifts
        return float(zs[0]), float(zs[-1])


# -- reading a checkpoint --------------------------------------------------------------------


def read_checkpoint(path: str | Path, warn: Callable[[str], None] = _stderr) -> tuple[dict, Path]:
    """(state, file): the file itself, or the newest good checkpoint of a run folder."""
    path = Path(path)
    if path.is_dir():
        return ck.read_latest(path, warn=warn)
    return ck.read(path), path


def model_from_state(state: dict, path: Path) -> tuple[torch.nn.Module, "archspec.Spec"]:
    """The checkpoint's model (its spec compiled, its weights loaded) and spec."""
    try:  # the spec under today's schema: fields added since take their defaults
        spec, _ = archspec.load_saved(state[ck.KEY_SPEC], label=str(path))
        model = archspec.build(spec)
    except archspec.SpecError as exc:
        first = exc.problems[0].format() if exc.problems else type(exc).__name__
        raise ck.CheckpointError(f"{path}: its spec is not valid with this archspec ({first})") from None
    try:
        model.load_state_dict(state[ck.KEY_MODEL])
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        reason = (first[1] if len(first) > 1 else first[0]).strip() if first else type(exc).__name__
        raise ck.CheckpointError(f"{path}: its weights do not fit its spec ({reason[:200]})") from None
    return model, spec


def transforms_from_state(state: dict, spec, path: Path, data: str | None = None,
                          warn: Callable[[str], None] = _stderr) -> tuple[dict, str, object]:
    """({"dm", "pressure"} -> ShiftLog, where they came from, the test split opened for them or None):
    the checkpoint's, else the store's."""
    saved = state.get(KEY_TRANSFORMS)
    if saved:
        try:
            return {f: ShiftLog.from_config(saved[f]) for f in ("dm", "pressure")}, "checkpoint", None
        except (KeyError, TypeError, ValueError) as exc:
            raise ck.CheckpointError(f"{path}: its transform statistics are malformed ({exc})") from None
    test = open_test_split(spec, data)
    warn(f"runner: note: {path.name} carries no transform statistics; using those of {test.store.path}")
    return dict(test.transforms), str(test.store.path), test


def open_test_split(spec, store: str | None = None):
    """The test split of the spec's data as a CPU ``TileDataset`` (of ``store`` when given),
    opened by the training runner's own rules (a mock store comes from the same cache)."""
    from runner.data.open import open_data

    if store is not None:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update={"store": str(store)})})
    return open_data(spec, torch.device("cpu"))[1]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
