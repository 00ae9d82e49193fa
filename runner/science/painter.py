"""Applying a trained generator: a checkpoint in, painted pressure in physical units out.

    painter = load_painter("runs/quickstart")          # a run folder (its latest checkpoint) or a file
    pressure = painter.paint(dm, z=0.5)                 # (H, W) dark matter -> (H, W) pressure
    pressure = painter.paint(dm, 0.5, samples=4)        # (4, H, W): four draws of the latent
    pressure = painter.paint(stack, [0, 0.5, 1])        # (3, H, W) maps, one redshift each

A map goes through the transform the model was trained with: y = [ln(dm / sigma_dm(z) + 1) / 4,
z], the generator paints t, and pressure = (exp(4 t) - 1) * sigma_p(z). Maps larger than the
generator's tile are painted tile by tile with overlapping, blended seams
(:func:`runner.science.tiling.paint_tiled`). The latent is drawn from the prior p(z|y), one
draw per tile, as the original's ``paint()`` drew it (``latent="mean"`` paints at the prior's
mean instead). Dark matter is checked against the units the model expects
(:mod:`runner.science.units`) before anything is painted.

The transform's statistics (sigma_z per redshift) come from the checkpoint when it carries them
(key ``transforms``), else from the tile store its spec names (or ``data=``), with a note.
File formats in and out are in :mod:`runner.science.painted_files`.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

import archspec
from runner import checkpoint as ck
from runner.data.transforms import ShiftLog
from runner.kinds import KINDS, LATENTS
from runner.runtime import autocast_for, resolve_device, seeded
from runner.science.calibration import KEY as KEY_CALIBRATION
from runner.science.calibration import Calibration, CalibrationError
from runner.science.tiling import paint_tiled
from runner.science.units import DarkMatterUnits, UnitsCheck, check_maps

KEY_TRANSFORMS = ck.KEY_TRANSFORMS  # the transforms' statistics: {"dm": ShiftLog.to_config(), "pressure": ...}
OVERLAP_FRACTION = 4  # default overlap: a quarter of the tile (128 px of the paper's 512)


class PaintError(Exception):
    """Painting cannot go ahead; the message is one line and names the file or the map."""


class PaintingWarning(UserWarning):
    """The maps can be painted, but not as the model learnt (units, depth, redshift)."""


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
        precision: the forward's arithmetic, as the model trained.
        calibration: the checkpoint's :class:`runner.science.calibration.Calibration`, or None.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        spec,
        transforms: dict,
        device: torch.device,
        provenance: dict | None = None,
        precision: str = "fp32",
        calibration: Calibration | None = None,
    ):
        self.model = model.to(device).train(False)  # eval mode: BatchNorm uses its running statistics
        # The arithmetic the model was trained in: a model trained under bf16 autocast can paint
        # very differently in fp32 (measured: the quickstart's prior log-variance at z = 0 is 1.45
        # in bf16 and 9.0 in fp32, so fp32 prior draws blew its z = 0 paintings up).
        self.precision = precision
        self.spec = spec
        self.transforms = transforms
        # the run's map of painted t to E[p | painted t] (training.calibration), applied before
        # the inverse transform; None: the network's output is the painting
        self.calibration = calibration
        self.device = torch.device(device)
        self.provenance = dict(provenance or {})
        self.test_split = None  # the store's test split, when load() had to open it for the transforms
        channels, height, width = spec.model.shapes["y"]
        if height != width or channels != 2:
            raise PaintError(
                f"{spec.name}: painting needs square tiles and y = [dark matter, z]. "
                f"Received: y shape={list(spec.model.shapes['y'])}"
            )
        self.tile = int(height)
        self.kind = KINDS.get(spec.model.kind)  # how this kind paints

    @classmethod
    def load(
        cls,
        checkpoint: str | Path,
        device: str = "auto",
        data: str | None = None,
        warn: Callable[[str], None] = _stderr,
    ) -> Painter:
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
            **({"imported_from": str(state[ck.KEY_IMPORTED].get("source", ""))} if ck.KEY_IMPORTED in state else {}),
        }
        precision = trained_precision(path)
        provenance["precision"] = precision
        calibration = calibration_from_state(state, path)
        provenance["calibration"] = calibration.describe() if calibration is not None else "none"
        painter = cls(model, spec, transforms, target, provenance, precision=precision, calibration=calibration)
        painter.test_split = test_split
        return painter

    def autocast(self):
        """The forward in the precision the model was trained in (bf16 autocast, or as it is)."""
        return autocast_for(self.precision, self.device)

    # -- painting ----------------------------------------------------------------------------
    @property
    def units(self) -> DarkMatterUnits:
        """The dark matter this model expects (``print(painter.units)`` says it in words)."""
        return DarkMatterUnits.of(self.transforms["dm"])

    def paint(
        self,
        dm,
        z,
        samples: int = 1,
        seed: int = 0,
        *,
        latent: str = "sample",
        depth: float | None = None,
        rescale: bool = False,
        overlap: int | None = None,
        batch_size: int = 8,
        progress: bool = False,
    ) -> np.ndarray:
        """Paint pressure onto dark-matter maps of any size, in physical units.

        Args:
            dm: (H, W) map or (N, H, W) stack, H, W >= the tile: projected dark-matter density
                in the model's units (``painter.units``: a 250 Mpc/h-deep projection has mean
                about 1).
            z: the redshift, one number or one per map.
            samples: latent draws per map (K).
            seed: of the draws; map i of a stack is drawn with :func:`map_seed` (seed, i), so the
                result depends on nothing else (not on batching, nor on the other maps).
            latent: "sample" (a draw from the prior per tile, as the original) or "mean" (the
                prior's mean; deterministic, samples must be 1).
            depth: the maps' projection depth [Mpc/h] when not the model's; it sets the mean
                the maps are checked against, and a depth the model never saw is a warning.
            rescale: multiply each map by (expected mean / its mean) instead of judging its
                mean: for maps in other units (particle counts, raw grids).
            overlap: of neighbouring tiles [pixels]; default a quarter of the tile.
            batch_size: tiles per call of the generator.
            progress: a progress bar over tiles (stderr).

        Returns:
            float32 pressure, ``dm``'s shape for one draw, else (K, *dm.shape).

        Raises:
            PaintError: the maps cannot be painted (not the model's units, too small, NaN).
        Warns:
            PaintingWarning: units, depth or redshift outside what the model learnt from.
        """
        maps = np.asarray(dm)
        if maps.ndim not in (2, 3) or not np.issubdtype(maps.dtype, np.number) or np.iscomplexobj(maps):
            raise PaintError(
                f"dm must be real maps, (H, W) or (N, H, W). Received: shape={maps.shape}, dtype={maps.dtype}"
            )
        stack = maps if maps.ndim == 3 else maps[None]
        zs = self._redshifts(z, len(stack))
        if latent not in LATENTS or samples < 1 or (latent == "mean" and samples != 1):
            raise PaintError(
                f"latent must be one of {', '.join(LATENTS)} and samples >= 1 (1 with latent='mean'). "
                f"Received: latent={latent!r}, samples={samples}"
            )
        overlap = self.check_geometry(stack.shape, overlap)
        check = self.check_units(stack, zs, depth=depth, rescale=rescale)
        for line in check.warnings + self.redshift_warnings(zs):
            warnings.warn(line, PaintingWarning, stacklevel=2)
        out = np.empty((samples, *stack.shape), dtype=np.float32)
        with _bar(self.tiles_per_map(stack.shape, overlap) * len(stack) * samples, progress) as bar:
            for i, (m, zi, scale) in enumerate(zip(stack, zs, check.scale)):
                try:
                    out[:, i] = self.paint_map(
                        m * scale if rescale else m,
                        zi,
                        samples=samples,
                        latent=latent,
                        overlap=overlap,
                        seed=map_seed(seed, i),
                        batch_size=batch_size,
                        on_batch=bar.update,
                    )  # (H, W) broadcasts into (1, H, W)
                except PaintError as exc:
                    raise PaintError(f"map {i} of {len(stack)}: {exc}" if maps.ndim == 3 else str(exc)) from None
        out = out if maps.ndim == 3 else out[:, 0]
        return out[0] if samples == 1 else out

    def check_units(
        self,
        maps: np.ndarray,
        zs: Sequence[float],
        *,
        depth: float | None = None,
        rescale: bool = False,
        cli: bool = False,
        label: str = "the dark-matter map",
    ) -> UnitsCheck:
        """:func:`runner.science.units.check_maps` on (N, H, W) maps; PaintError when they cannot be painted."""
        means = np.array([np.mean(m, dtype=np.float64) for m in maps])
        check = check_maps(means, zs, self.units, depth=depth, rescale=rescale, cli=cli, label=label)
        if check.error:
            raise PaintError(check.error)
        return check

    def redshift_warnings(self, zs: Sequence[float]) -> tuple[str, ...]:
        """A line when redshifts lie outside the training range (sigma_z is held at its ends there)."""
        lo, hi = self.redshift_range
        outside = sorted({float(z) for z in zs if not lo - 1e-6 <= z <= hi + 1e-6})
        if not outside:
            return ()
        return (
            f"redshift(s) {', '.join(f'{z:g}' for z in outside)} lie outside the training range "
            f"[{lo:g}, {hi:g}]; sigma_z is held at the nearest end there",
        )

    @staticmethod
    def _redshifts(z, n: int) -> np.ndarray:
        try:
            zs = np.ravel(np.asarray(z, dtype=np.float64))
        except (TypeError, ValueError):
            raise PaintError(f"z must be a number, or one per map. Received: {z!r}") from None
        zs = np.repeat(zs, n) if zs.size == 1 else zs
        if zs.size != n or not np.all(np.isfinite(zs)) or np.any(zs < 0):
            raise PaintError(f"z must be one redshift >= 0, or one per map ({n}). Received: {np.ravel(z).tolist()}")
        return zs

    def network_input(self, dm: np.ndarray, z: float) -> np.ndarray:
        """y for one (H, W) dark-matter map at redshift z: (2, H, W) float32."""
        sigma = float(self.transforms["dm"].sigma(z))
        if not np.all(np.isfinite(dm)):
            raise PaintError("the dark-matter map has NaN or infinite values")
        low = float(np.min(dm))
        if low <= -sigma:
            raise PaintError(
                f"the dark-matter map reaches {low:g}, at or below -sigma_z = {-sigma:g} "
                f"(z = {z:g}), where the shift-log transform is undefined; dark matter "
                f"must be a projected density ({self.units})"
            )
        t = self.transforms["dm"].forward(np.asarray(dm, dtype=np.float64), z)
        return np.stack([t, np.full_like(t, z + self.spec.data.redshift_offset)]).astype(np.float32)

    def paint_tiles(self, y: np.ndarray, latent: str = "sample") -> np.ndarray:
        """The generator's mean of x for a batch of tiles y (N, 2, T, T): (N, 1, T, T), in
        network units; z drawn from the prior per tile ("sample") or the prior's mean ("mean")."""
        with torch.no_grad(), self.autocast():
            y = torch.from_numpy(np.ascontiguousarray(y)).to(self.device)
            out = self.kind.paint(self.model, y, latent)
        return out.float().cpu().numpy()

    def paint_map(
        self,
        dm: np.ndarray,
        z: float,
        *,
        samples: int = 1,
        latent: str = "sample",
        overlap: int | None = None,
        seed: int = 0,
        batch_size: int = 8,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Paint one (H, W) map, units unchecked: float32 pressure in physical units, (H, W) for
        one draw, (samples, H, W) for several.

        ``seed`` seeds the latent draws of this map alone; ``on_batch`` is called with the number
        of tiles of each batch (progress bars). :meth:`paint` is the checked entry point.
        """
        overlap = self.check_geometry(np.shape(dm), overlap)
        y = self.network_input(dm, z)  # (2, H, W)
        draws = []
        with seeded(self.device, seed):  # the caller's random stream is untouched
            paint = self._paint_fn(latent, on_batch)
            for _ in range(samples):  # (1, H, W) each: y is (C, H, W)
                draws.append(paint_tiled(paint, y, tile=self.tile, overlap=overlap, batch_size=batch_size)[0])
        t = np.stack(draws)  # (K, H, W)
        if self.calibration is not None:
            t = self.calibration.apply(t, z)
        pressure = self.transforms["pressure"].inverse(t.astype(np.float64), z).astype(np.float32)
        return pressure if samples > 1 else pressure[0]

    def _paint_fn(self, latent: str, on_batch):
        def paint(y: np.ndarray) -> np.ndarray:  # (N, 2, T, T) -> (N, 1, T, T)
            out = self.paint_tiles(y, latent)
            if on_batch is not None:
                on_batch(len(y))
            return out

        return paint

    def check_geometry(self, shape: tuple, overlap: int | None) -> int:
        """The overlap to use for a map of ``shape`` (..., H, W); PaintError when it cannot fit."""
        overlap = self.tile // OVERLAP_FRACTION if overlap is None else int(overlap)
        if not 0 <= overlap < self.tile:
            raise PaintError(
                f"--overlap must be in [0, {self.tile}) for {self.tile}-pixel tiles. Received: overlap={overlap}"
            )
        height, width = shape[-2:]
        if min(height, width) < self.tile:
            raise PaintError(
                f"a {height}x{width} map is smaller than the generator's {self.tile}x{self.tile} "
                f"tile; paint maps of at least {self.tile} pixels a side (pad smaller ones)"
            )
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


def load_painter(source: str | Path, device: str = "auto", data: str | None = None) -> Painter:
    """A :class:`Painter` from a run folder (its latest good checkpoint) or a checkpoint file,
    on the GPU when there is one (``device="cpu"`` to keep it off). See :meth:`Painter.load`."""
    return Painter.load(source, device=device, data=data)


def map_seed(seed: int, index: int) -> int:
    """The latent seed of map ``index`` of a stack or file: independent of batching and of other maps."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0] >> 1)


def _bar(total: int, enabled: bool):
    from tqdm import tqdm

    # disable=None: tqdm turns itself off when stderr is not a terminal (logs stay clean)
    return tqdm(total=total, desc="painting", unit="tile", disable=None if enabled else True, dynamic_ncols=True)


# -- reading a checkpoint --------------------------------------------------------------------


def trained_precision(checkpoint: Path) -> str:
    """The precision the run of ``checkpoint`` trained in (its folder's options.json, resolved),
    "fp32" when it says nothing (an imported model, a run from before the fast path)."""
    import json

    try:
        options = json.loads((Path(checkpoint).parent / "options.json").read_text())
        precision = options.get("resolved", {}).get("precision")
    except (OSError, ValueError, AttributeError):
        return "fp32"
    return precision if precision in ("bf16", "fp32", "tf32") else "fp32"


def read_checkpoint(path: str | Path, warn: Callable[[str], None] = _stderr) -> tuple[dict, Path]:
    """(state, file): the file itself, or the newest good checkpoint of a run folder."""
    path = Path(path)
    if path.is_dir():
        return ck.read_latest(path, warn=warn, use="painting with")
    return ck.read(path), path


def model_from_state(state: dict, path: Path) -> tuple[torch.nn.Module, archspec.Spec]:
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


def calibration_from_state(state: dict, path: Path) -> Calibration | None:
    """The checkpoint's calibration of the painting (None when it carries none), checked."""
    saved = state.get(KEY_CALIBRATION)
    if saved is None:
        return None
    try:
        return Calibration.from_state(saved)
    except CalibrationError as exc:
        raise ck.CheckpointError(f"{path}: its calibration table is malformed ({exc})") from None


def transforms_from_state(
    state: dict, spec, path: Path, data: str | None = None, warn: Callable[[str], None] = _stderr
) -> tuple[dict, str, object]:
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
