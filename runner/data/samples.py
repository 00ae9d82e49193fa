"""The index space of samples, and a resumable sampler over it.

A sample is (redshift, a tile of a 100 Mpc/h slice, a tile of a 150 Mpc/h slice), both slices
from the same split. With S slices in the split and P = (grid / tile)^2 tiles per slice there
are M = S * P tiles per depth per redshift, so

    independent tiles per depth = n_z * S * P       (full layout: 11 * 11 * 16 = 1,936)
    combinations                = n_z * M * M       (full layout: 11 * 176 * 176 = 340,736)

Index i decodes as i = (z_index * M + a) * M + b, a naming the 100 Mpc/h tile and b the
150 Mpc/h one; a tile index a = slice_position * P + row * (grid / tile) + column.
Train, validation and test are disjoint sets of whole slices (slice s is in both depths' split);
the validation split is empty unless slices are named for it (``data.validation_slices``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from runner.data.layout import DataError

SPLITS = ("train", "validation", "test")
DEFAULT_TILE = 512  # pixels: 100 Mpc/h at the original's 0.1953125 Mpc/h pixels
TEST_FRACTION = 0.2  # default: the last ~20% of slices (3 of 14, as the original) are test


def default_test_count(n_slices: int) -> int:
    """Last round(20%) of slices, at least one: 14 -> 3 (the original's 11-13), 4 -> 1."""
    return max(1, int(n_slices * TEST_FRACTION + 0.5))


def split_slices(n_slices: int, split: str, test_slices=None, name: str = "store", validation_slices=None) -> tuple:
    """Slice indices of a split.

    Args:
        n_slices: slices per depth in the store.
        split: 'train', 'validation' or 'test'.
        test_slices: None (default count, the last slices), an int (that many last slices) or
            a sequence of slice indices.
        validation_slices: None or a sequence of slice indices held out of training (for what is
            fitted after training, such as the painting's calibration), disjoint from the test's.
    """
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if test_slices is None or isinstance(test_slices, (int, np.integer)):
        k = default_test_count(n_slices) if test_slices is None else int(test_slices)
        test = tuple(range(n_slices - k, n_slices)) if 0 < k <= n_slices else None
    else:
        test = tuple(sorted({int(s) for s in test_slices}))
        if not test or test[0] < 0 or test[-1] >= n_slices:
            test = None
    validation = tuple(sorted({int(s) for s in validation_slices or ()}))
    if validation and (validation[0] < 0 or validation[-1] >= n_slices):
        raise DataError(
            f"{name}: validation_slices={list(validation_slices)!r} names a slice outside its "
            f"{n_slices} slices (0 to {n_slices - 1})"
        )
    if test is not None and set(validation) & set(test):
        raise DataError(
            f"{name}: slice(s) {sorted(set(validation) & set(test))} are both validation and test slices; "
            f"the test slices are {list(test)}: name others for validation"
        )
    train = tuple(s for s in range(n_slices) if test is not None and s not in test and s not in validation)
    if test is None or not train:
        raise DataError(
            f"{name}: test_slices={test_slices!r}"
            + (f" with validation_slices={list(validation)!r}" if validation else "")
            + f" leaves no train or no test slice among its {n_slices} slices (both need at least one)"
        )
    if split == "validation":
        if not validation:
            raise DataError(f"{name}: no validation slices (name them with data.validation_slices)")
        return validation
    return train if split == "train" else test


def check_tile(grid: int, tile: int, name: str = "store") -> int:
    """The tile size must divide the grid exactly."""
    tile = int(tile)
    if tile < 1 or grid % tile:
        divisors = [d for d in range(8, grid + 1) if grid % d == 0]
        raise DataError(
            f"{name}: tile {tile} does not divide the grid {grid}; use one of {', '.join(map(str, divisors))}"
        )
    return tile


class Sample(NamedTuple):
    """What index i names: a redshift and one tile of each depth (slice, row, column)."""

    z: float
    slice_100: int
    tile_100: tuple
    slice_150: int
    tile_150: tuple


class SampleSpace:
    """All combinations of two tiles of one split, at each redshift. See the module docstring."""

    def __init__(self, store, tile: int = DEFAULT_TILE, split: str = "train", test_slices=None, validation_slices=None):
        name = store.path.name
        self.tile = check_tile(store.grid, tile, name)
        self.split = split
        self.slices = split_slices(store.n_slices, split, test_slices, name, validation_slices)
        self.redshifts = tuple(store.redshifts)
        self.per_side = store.grid // self.tile  # tiles per row of a slice
        self.per_slice = self.per_side**2  # P
        self.per_depth = len(self.slices) * self.per_slice  # M, per redshift

    @property
    def independent_tiles(self) -> int:
        """Distinct tiles of one depth over all redshifts: n_z * S * P."""
        return len(self.redshifts) * self.per_depth

    def __len__(self) -> int:
        return len(self.redshifts) * self.per_depth**2

    def check(self, i: np.ndarray) -> np.ndarray:
        """i itself, after checking that every index is in range."""
        if i.size and (i.min() < 0 or i.max() >= len(self)):
            raise IndexError(f"sample index out of range [0, {len(self):,}). Received: min={i.min()}, max={i.max()}")
        return i

    def decode(self, idx) -> dict[str, np.ndarray]:
        """Vectorised decoding of indices into integer arrays.

        Returns dict with 'z' (redshift index), 'pos_100', 'pos_150' (position of the slice
        within this split), 'slice_100', 'slice_150' (slice index in the store), 'tile_100',
        'tile_150' (tile within its slice, 0 .. P-1), 'row_*', 'col_*' (in tiles).
        """
        i = self.check(np.asarray(idx, dtype=np.int64))
        zi, ab = np.divmod(i, self.per_depth**2)
        out = {"z": zi}
        slices = np.asarray(self.slices, dtype=np.int64)
        for depth, a in zip((100, 150), np.divmod(ab, self.per_depth)):
            pos, t = np.divmod(a, self.per_slice)
            out[f"pos_{depth}"], out[f"slice_{depth}"], out[f"tile_{depth}"] = pos, slices[pos], t
            out[f"row_{depth}"], out[f"col_{depth}"] = np.divmod(t, self.per_side)
        return out

    def sample(self, i: int) -> Sample:
        """Human-readable decoding of one index."""
        d = {k: int(v[0]) for k, v in self.decode([i]).items()}
        return Sample(
            self.redshifts[d["z"]],
            d["slice_100"],
            (d["row_100"], d["col_100"]),
            d["slice_150"],
            (d["row_150"], d["col_150"]),
        )

    def __repr__(self) -> str:
        return (
            f"SampleSpace({self.split}: {len(self.redshifts)} z x ({len(self.slices)} slices "
            f"x {self.per_slice} tiles)^2 = {len(self):,} combinations of {self.tile}^2 tiles)"
        )


class Sampler:
    """Uniform, reproducible and resumable draws of sample indices.

    Pass p (0, 1, ...) is a permutation of range(n) seeded by (seed, p); draws run through the
    passes in order. Position is the number of samples drawn so far, so the stream depends on
    nothing else: drawing 10 then 6 gives the same 16 indices as drawing 16, whatever the batch
    sizes, and `load_state_dict` resumes exactly.
    """

    def __init__(self, n: int, seed: int = 0):
        if int(n) < 1:
            raise ValueError(f"Sampler needs at least one sample. Received: n={n}")
        self.n, self.seed, self.drawn = int(n), int(seed), 0
        self._perm: tuple[int, np.ndarray] | None = None
        self._on_device: tuple | None = None  # (pass, device, tensor): next_on's copy of the permutation

    def permutation(self, p: int) -> np.ndarray:
        """The order of pass p."""
        if self._perm is None or self._perm[0] != p:
            rng = np.random.Generator(np.random.PCG64([self.seed, p]))
            self._perm = (p, rng.permutation(self.n))
        return self._perm[1]

    def _spans(self, batch_size: int):
        """(pass, start, count) of each piece of the next ``batch_size`` indices (a batch may
        straddle two passes), advancing the position as they are taken."""
        need = int(batch_size)
        if need < 0:
            raise ValueError(f"batch_size must be >= 0. Received: batch_size={batch_size}")
        while need:
            p, at = divmod(self.drawn, self.n)
            take = min(need, self.n - at)
            yield p, at, take
            self.drawn += take
            need -= take

    def next(self, batch_size: int) -> np.ndarray:
        """The next `batch_size` indices, int64."""
        out = [self.permutation(p)[at : at + take] for p, at, take in self._spans(batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def next_on(self, batch_size: int, device):
        """The indices :meth:`next` would give, as an int64 tensor on ``device``: cut from a
        device copy of the pass's permutation, made once per pass, so a batch's indices need no
        host-to-device copy (and no wait for the device) of their own."""
        import torch  # here, not at the top: the data commands never import torch

        device = torch.device(device)
        out = [self._device_permutation(p, device)[at : at + take] for p, at, take in self._spans(batch_size)]
        if not out:
            return torch.zeros(0, dtype=torch.int64, device=device)
        return out[0] if len(out) == 1 else torch.cat(out)

    def _device_permutation(self, p: int, device):
        import torch

        if self._on_device is None or self._on_device[:2] != (p, device):
            host = torch.from_numpy(self.permutation(p))
            if device.type == "cuda":
                host = host.pin_memory()  # an asynchronous copy; the cache keeps the source alive
            self._on_device = (p, device, host.to(device, non_blocking=True), host)
        return self._on_device[2]

    @property
    def passes(self) -> float:
        """Passes through the index space so far (fractional)."""
        return self.drawn / self.n

    def state_dict(self) -> dict:
        return {"n": self.n, "seed": self.seed, "drawn": self.drawn}

    def load_state_dict(self, state: dict) -> None:
        if int(state["n"]) != self.n:
            raise ValueError(
                f"sampler state is for {state['n']} samples, this sampler has "
                f"{self.n}: the data, tile size or split changed since it was saved"
            )
        self.seed, self.drawn = int(state["seed"]), int(state["drawn"])
        self._perm = self._on_device = None


def as_index_array(indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Indices from a list, numpy array or (CPU/GPU) tensor, as int64 numpy."""
    if type(indices).__module__.split(".")[0] == "torch":
        indices = indices.detach().cpu().numpy()
    return np.asarray(indices, dtype=np.int64).reshape(-1)
