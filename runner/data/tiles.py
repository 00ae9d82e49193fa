"""Samples as tensors: a CPU dataset that reads tiles from the store, and an on-device copy.

Both give, for sample indices of a `SampleSpace`,

    x = shift-log(pressure_100 tile + pressure_150 tile)           (N, 1, T, T) float32
    y = [shift-log(dm_100 tile + dm_150 tile), z broadcast]        (N, 2, T, T) float32

through the same `assemble` function, so the two paths give identical values on one device.
"""

from __future__ import annotations

import numpy as np
import torch

from runner.data.layout import DEPTHS, DataError
from runner.data.samples import DEFAULT_TILE, SampleSpace, as_index_array
from runner.data.store import TileStore, open_store
from runner.data.transforms import ShiftLog

IN_MEMORY_LIMIT = 1 << 30  # TileDataset holds its split in RAM when it takes at most this
PARTS = tuple((field, depth) for field in ("pressure", "dm") for depth in DEPTHS)


def assemble(
    parts: dict, z: torch.Tensor, transforms: dict, z_offset: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum the tiles of the two depths, transform, and add the redshift channel.

    Args:
        parts: (field, depth) -> raw tiles (N, T, T) float32.
        z: redshift of each sample, (N,) float64.
        transforms: field -> ShiftLog.
        z_offset: the redshift channel holds z + z_offset (the spec's ``data.redshift_offset``).
    Returns:
        x (N, 1, T, T), y (N, 2, T, T), float32.
    """
    p, d = summed(parts, "pressure"), summed(parts, "dm")  # (N, T, T)
    x = transforms["pressure"].forward(p, z).unsqueeze(1)  # (N, 1, T, T)
    zmap = (z + z_offset).to(torch.float32)[:, None, None].expand_as(d)  # (N, T, T)
    y = torch.stack([transforms["dm"].forward(d, z), zmap], dim=1)  # (N, 2, T, T)
    return x, y


def summed(parts: dict, field: str):
    """A sample's map of ``field``: its 100 and its 150 Mpc/h tile added, as the original
    loads a sample (``parts``: (field, depth) -> (N, T, T) arrays or tensors)."""
    shallow, deep = DEPTHS
    return parts[(field, shallow)] + parts[(field, deep)]


def _store(store) -> TileStore:
    return store if isinstance(store, TileStore) else open_store(store)


class TileDataset:
    """Samples read from the store on the CPU (a map-style dataset; picklable for workers).

    Args:
        store: a TileStore or a path.
        tile: tile side in pixels; must divide the grid.
        split: 'train', 'validation' or 'test'. test_slices, validation_slices: see `split_slices`.
        in_memory: hold the split's slices in RAM; None: when they take at most 1 GiB.
    """

    z_offset = 0.0  # y's redshift channel holds z + z_offset (the spec's data.redshift_offset; open_data sets it)

    def __init__(
        self,
        store,
        tile: int = DEFAULT_TILE,
        split: str = "train",
        test_slices=None,
        in_memory: bool | None = None,
        validation_slices=None,
    ):
        self.store = _store(store)
        self.space = SampleSpace(self.store, tile, split, test_slices, validation_slices)
        self.transforms = {f: ShiftLog.from_store(self.store, f) for f in ("pressure", "dm")}
        nbytes = len(PARTS) * len(self.space.redshifts) * len(self.space.slices) * self.store.grid**2 * 4
        self.in_memory = nbytes <= IN_MEMORY_LIMIT if in_memory is None else bool(in_memory)
        self._arrays: dict | None = None

    def __len__(self) -> int:
        return len(self.space)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self):,} samples")
        x, y = self.batch([i % len(self)])
        return x[0], y[0]

    def _source(self, field: str, zi: int, depth: int):
        """(split-position-indexed) slices of one dataset: RAM array or h5py dataset."""
        if not self.in_memory:
            return self.store.dataset(field, self.space.redshifts[zi], depth), self.space.slices
        if self._arrays is None:
            self._arrays = {}
            for f, d in PARTS:
                for j, z in enumerate(self.space.redshifts):
                    ds = self.store.dataset(f, z, d)
                    a = self._arrays[(f, j, d)] = np.stack([self.store.read(ds, s) for s in self.space.slices])
                    if not np.isfinite(a).all():
                        raise DataError(f"{self.store.path.name}: {ds.name} has NaN/inf values")
        return self._arrays[(field, zi, depth)], range(len(self.space.slices))

    def tiles(self, idx) -> tuple[dict, np.ndarray]:
        """Raw tiles of each (field, depth), (N, T, T) float32, and the redshift index (N,)."""
        d = self.space.decode(as_index_array(idx))
        n, t = len(d["z"]), self.space.tile
        parts = {key: np.empty((n, t, t), dtype=np.float32) for key in PARTS}
        for k in range(n):
            zi = int(d["z"][k])
            for field, depth in PARTS:
                src, slices = self._source(field, zi, depth)
                s = slices[int(d[f"pos_{depth}"][k])]
                r, c = int(d[f"row_{depth}"][k]) * t, int(d[f"col_{depth}"][k]) * t
                if self.in_memory:
                    parts[(field, depth)][k] = src[s, r : r + t, c : c + t]
                else:
                    parts[(field, depth)][k] = self.store.read(src, (s, slice(r, r + t), slice(c, c + t)))
        if not self.in_memory:  # read from the file now: a store too big to scan up front is checked here
            self._check_finite(parts, d)
        return parts, d["z"]

    def _check_finite(self, parts: dict, d: dict) -> None:
        for (field, depth), a in parts.items():
            if not np.isfinite(a).all():
                k = int(np.argmin(np.isfinite(a).reshape(len(a), -1).all(axis=1)))
                z = self.space.redshifts[int(d["z"][k])]
                s = self.space.slices[int(d[f"pos_{depth}"][k])]
                raise DataError(
                    f"{self.store.path.name}: {self.store.dataset(field, z, depth).name}[{s}] has NaN/inf values"
                )

    def batch(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, T, T) and y (N, 2, T, T) for a list/array/tensor of sample indices."""
        parts, zi = self.tiles(idx)
        z = torch.as_tensor(np.asarray(self.space.redshifts, dtype=np.float64)[zi])
        return assemble({k: torch.from_numpy(v) for k, v in parts.items()}, z, self.transforms, self.z_offset)

    def __getstate__(self) -> dict:  # workers reopen the file and reload their own arrays
        state = dict(self.__dict__)
        state["_arrays"] = None
        return state


class DeviceTiles:
    """The whole split on a device, cut into tiles; batches are gathered there.

    Raw float32 values are held as (n_z, n_slices, tiles_per_slice, T, T) per field and depth
    (the transform acts on the sum of two tiles, so it is applied per batch); a batch is four
    gathers by index tensors, two sums and two log1p's -- no Python loop over samples.

    Args:
        store, tile, split, test_slices, validation_slices: as for TileDataset.
        device: where to hold the data ('cuda', 'cuda:1', 'cpu').
    """

    z_offset = 0.0  # y's redshift channel holds z + z_offset (the spec's data.redshift_offset; open_data sets it)

    def __init__(
        self,
        store,
        tile: int = DEFAULT_TILE,
        split: str = "train",
        test_slices=None,
        device: str | torch.device = "cuda",
        validation_slices=None,
    ):
        self.store = _store(store)
        self.space = sp = SampleSpace(self.store, tile, split, test_slices, validation_slices)
        self.device = torch.device(device)
        self.transforms = {f: ShiftLog.from_store(self.store, f) for f in ("pressure", "dm")}
        self.z = torch.tensor(sp.redshifts, dtype=torch.float64, device=self.device)
        shape = (len(sp.redshifts), len(sp.slices), sp.per_slice, sp.tile, sp.tile)
        self.data = {key: torch.empty(shape, dtype=torch.float32, device=self.device) for key in PARTS}
        for field, depth in PARTS:
            for zi, z in enumerate(sp.redshifts):
                ds = self.store.dataset(field, z, depth)
                for pos, s in enumerate(sp.slices):
                    self.data[(field, depth)][zi, pos] = self._tiled(self.store.read(ds, s), f"{ds.name}[{s}]")

    def _tiled(self, a: np.ndarray, name: str) -> torch.Tensor:
        """(grid, grid) slice -> (tiles_per_slice, T, T), row-major tiles, checked finite."""
        if not np.isfinite(a).all():
            raise DataError(f"{self.store.path.name}: {name} has NaN/inf values")
        n, t = self.space.per_side, self.space.tile
        tiles = torch.from_numpy(np.ascontiguousarray(a)).view(n, t, n, t).permute(0, 2, 1, 3)
        return tiles.reshape(n * n, t, t).to(self.device)

    @property
    def nbytes(self) -> int:
        return sum(v.numel() * 4 for v in self.data.values())

    def __len__(self) -> int:
        return len(self.space)

    def batch(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, T, T) and y (N, 2, T, T) on the device; the same values as TileDataset.batch.

        Indices given as a list or numpy array are range-checked; a device tensor is not (that
        would cost a synchronisation).
        """
        if not isinstance(idx, torch.Tensor):
            idx = torch.from_numpy(self.space.check(as_index_array(idx)))
        i = idx.to(self.device, torch.int64)
        m, p = self.space.per_depth, self.space.per_slice
        zi, ab = i // (m * m), i % (m * m)
        parts = {}
        for depth, a in ((100, ab // m), (150, ab % m)):
            pos, t = a // p, a % p
            for field in ("pressure", "dm"):
                parts[(field, depth)] = self.data[(field, depth)][zi, pos, t]  # (N, T, T)
        return assemble(parts, self.z[zi], self.transforms, self.z_offset)
