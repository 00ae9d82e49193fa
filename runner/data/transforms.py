"""The shift-log transform of the original, on numpy arrays and torch tensors alike.

    t = ln(v / sigma_z + 1) / 4          inverse: v = (exp(4 t) - 1) * sigma_z

sigma_z = sqrt(var_100 + var_150) of the field at redshift z (the variance of a summed
100 + 150 Mpc/h sample). Between the stored redshifts the *variance* is interpolated linearly
in z and sigma_z is its square root, as the original's ``interpolate_z`` does (interpolating
sigma itself differs by up to 3e-3 at z = 0.3); beyond them it is held constant. torch is
imported only when a tensor is passed in.

A ShiftLog may also carry the field's mean of a summed sample at each redshift (``means``): it
plays no part in the transform, but it records the units the model was trained on, which
painting checks its input against (:mod:`runner.science.units`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SCALE = 4.0  # the original's divisor of the logarithm


def is_tensor(a: Any) -> bool:
    return type(a).__module__.split(".")[0] == "torch"


class ShiftLog:
    """t = ln(v / sigma(z) + 1) / 4 and its exact inverse.

    Args:
        redshifts: ascending redshifts at which sigma is known.
        sigmas: sigma_z at those redshifts (> 0).
        field: name, for messages and `to_config`.
        means: optional, the field's mean of a summed 100 + 150 Mpc/h sample at those redshifts
            (the units of the training data; not used by the transform).

    `z` may be a number (one sigma for all of `v`) or an array/tensor of shape (N,) for a batch
    whose first axis is N: sigma then broadcasts over the remaining axes of `v`.
    """

    def __init__(
        self, redshifts: Sequence[float], sigmas: Sequence[float], field: str = "", means: Sequence[float] | None = None
    ):
        self.redshifts = np.asarray(redshifts, dtype=np.float64)
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.field = field
        self.means = None if means is None else np.asarray(means, dtype=np.float64)
        self._tables: dict = {}  # device -> (redshifts, sigmas) as float64 tensors
        if self.redshifts.shape != self.sigmas.shape or self.redshifts.ndim != 1 or not len(self.redshifts):
            raise ValueError(
                f"ShiftLog needs one sigma per redshift. Received: "
                f"redshifts={self.redshifts.tolist()}, sigmas={self.sigmas.tolist()}"
            )
        if np.any(np.diff(self.redshifts) <= 0) or np.any(~(self.sigmas > 0)):
            raise ValueError(
                f"ShiftLog needs ascending redshifts and positive sigmas. Received: "
                f"redshifts={self.redshifts.tolist()}, sigmas={self.sigmas.tolist()}"
            )
        if self.means is not None and (self.means.shape != self.redshifts.shape or not np.all(np.isfinite(self.means))):
            raise ValueError(
                f"ShiftLog needs one finite mean per redshift. Received: "
                f"redshifts={self.redshifts.tolist()}, means={self.means.tolist()}"
            )

    @classmethod
    def from_store(cls, store, field: str) -> ShiftLog:
        """sigma_z from the statistics stored in a `TileStore`."""
        stats = [store.stats(field, z) for z in store.redshifts]
        return cls(store.redshifts, [s.sigma for s in stats], field, [s.sum_mean for s in stats])

    def __getstate__(self) -> dict:  # tensors stay behind when pickled to loader workers
        return {**self.__dict__, "_tables": {}}

    def to_config(self) -> dict:
        """Plain data, for checkpoints: painting then needs no store."""
        config = {"field": self.field, "redshifts": self.redshifts.tolist(), "sigmas": self.sigmas.tolist()}
        return config if self.means is None else {**config, "means": self.means.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> ShiftLog:
        return cls(config["redshifts"], config["sigmas"], config.get("field", ""), config.get("means"))

    def mean(self, z) -> float | None:
        """The training data's mean of the field at z (linear in z, constant beyond); None if unknown."""
        if self.means is None:
            return None
        return float(np.interp(float(z), self.redshifts, self.means))

    # -- sigma(z) ----------------------------------------------------------------------------
    def sigma(self, z):
        """sigma_z: the square root of the variance interpolated linearly in z between stored
        redshifts, constant beyond; float64."""
        if is_tensor(z):
            return self._sigma_torch(z)
        return np.sqrt(np.interp(np.asarray(z, dtype=np.float64), self.redshifts, self.sigmas**2))

    def _sigma_torch(self, z):
        import torch

        if z.device not in self._tables:  # copied to each device once, not per batch
            self._tables[z.device] = (
                torch.as_tensor(self.redshifts, device=z.device),
                torch.as_tensor(self.sigmas**2, device=z.device),
            )
        zs, sg = self._tables[z.device]
        z = z.to(torch.float64).clamp(zs[0], zs[-1])
        # interval i with zs[i] <= z < zs[i+1], so that a stored z gives its sigma exactly
        i = (torch.searchsorted(zs, z, right=True) - 1).clamp(0, max(len(zs) - 2, 0))
        if len(zs) == 1:
            return sg[i].sqrt()
        w = (z - zs[i]) / (zs[i + 1] - zs[i])
        return (sg[i] + w * (sg[i + 1] - sg[i])).sqrt()  # sg holds variances

    def _sigma_like(self, v, z):
        """sigma in v's dtype, shaped to broadcast over v (z scalar, or z of shape (N,))."""
        if is_tensor(v):
            import torch

            zt = z if is_tensor(z) else torch.as_tensor(z, dtype=torch.float64)
            s = self._sigma_torch(zt.to(v.device)).to(v.dtype)
        else:
            dtype = v.dtype if np.issubdtype(v.dtype, np.floating) else np.float64
            s = np.asarray(self.sigma(z)).astype(dtype)
        extra = v.ndim - s.ndim
        if extra < 0:
            raise ValueError(
                f"z has more dimensions than the values. Received: "
                f"values shape={tuple(v.shape)}, z shape={tuple(s.shape)}"
            )
        return s.reshape(tuple(s.shape) + (1,) * extra)

    # -- the transform -----------------------------------------------------------------------
    def forward(self, v, z):
        """Field values -> network values: ln(v / sigma_z + 1) / 4."""
        if not is_tensor(v):
            v = np.asarray(v)
        s = self._sigma_like(v, z)
        if is_tensor(v):
            import torch

            return torch.log1p(v / s) / SCALE
        return np.log1p(v / s) / SCALE

    def inverse(self, t, z):
        """Network values -> field values: (exp(4 t) - 1) * sigma_z."""
        if not is_tensor(t):
            t = np.asarray(t)
        s = self._sigma_like(t, z)
        if is_tensor(t):
            import torch

            return torch.expm1(t * SCALE) * s
        return np.expm1(t * SCALE) * s

    def __repr__(self) -> str:
        pairs = ", ".join(f"{z:g}: {s:.4g}" for z, s in zip(self.redshifts, self.sigmas))
        return f"ShiftLog({self.field or 'field'}; sigma_z = {{{pairs}}})"


def transforms_config(data) -> dict | None:
    """The shift-log statistics a dataset was transformed with, as plain data (None if unknown)."""
    transforms = getattr(data, "transforms", None)
    if not isinstance(transforms, dict):
        return None
    return {field: t.to_config() for field, t in transforms.items() if hasattr(t, "to_config")} or None
