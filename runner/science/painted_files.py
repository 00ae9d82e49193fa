"""The files `runner paint` reads and writes (HDF5).

Input, either of two layouts:

  plain   a dataset ``/dm`` (or ``--dataset NAME``): one map (H, W) or a stack (N, H, W) of
          projected dark-matter density in units of the mean (1 + delta), with an attribute
          ``redshift``: one number, or N numbers (one per map).
  store   the tile store's layout: datasets ``/dm/z<z>/<depth>``, each (n_slices, H, W) or
          (H, W). Every redshift group and every dataset in it is painted (the 100 and 150 Mpc/h
          depths alike, each slice on its own). The redshift is the dataset's ``redshift``
          attribute, else the group's name (z0.500). A whole tile store may be given; only
          ``/dm`` is read. (The model learnt from 250 Mpc/h-deep sums of a 100 and a 150 Mpc/h
          tile: a single depth's maps are shallower projections than any it saw, and say so.)

Dark matter is checked against the units the model expects (:mod:`runner.science.units`), every
map before any is painted. A dataset's projection depth is its ``slice_depth`` (or ``depth``)
attribute [Mpc/h], else ``depth=``, else the model's 250 Mpc/h.

Output, mirroring the input: ``/pressure`` or ``/pressure/z<z>/<depth>``, float32, the input's
shape for one latent draw, or (K, ...) with K draws (``samples=K``). Each dataset carries
``redshift``, ``units``, ``source`` (the input dataset), ``latent``, ``axes`` and, when
rescaled, ``dm_scale``; the root carries the provenance: checkpoint path and sha256, samples
seen, spec name, hash and text, archspec and torch versions, creation date (UTC), input path,
latent mode, seed, tile, overlap, the expected dark-matter units and the transform's sigma_z.
The file is written to a temporary name next to the output and renamed when complete; an
existing output is replaced only with ``force``.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

import archspec
from runner.data import write as store_write
from runner.data.check import h5_reason, open_h5
from runner.data.layout import UNITS
from runner.runtime import atomic_path
from runner.science.painted_info import FORMAT, FORMAT_VERSION
from runner.science.painter import Painter, PaintError, _bar, _stderr, map_seed


@dataclass(frozen=True)
class MapSet:
    """One input dataset to paint and the output dataset it becomes."""

    source: str  # input dataset, e.g. '/dm/z0.500/100'
    target: str  # output dataset, e.g. '/pressure/z0.500/100'
    shape: tuple  # (H, W) or (N, H, W)
    redshifts: tuple  # one per map
    attrs: dict  # copied to the output dataset (redshift, slice_depth, ...)
    depth: float | None = None  # projection depth [Mpc/h] from the dataset's attributes

    @property
    def n_maps(self) -> int:
        return len(self.redshifts)


REDSHIFT_ATTRS = ("redshift", "z")  # the attribute a plain dataset's redshift is read from, in this order


def scan_input(path: str | os.PathLike, dataset: str = "dm", redshift: float | None = None) -> list[MapSet]:
    """The maps of an input file (metadata only). Raises PaintError naming the file.

    ``redshift`` is the redshift of a plain dataset that carries no 'redshift' (or 'z')
    attribute (``runner paint --redshift``); one that does must agree with it."""
    path = Path(path)
    with open_h5(path, PaintError, label=str(path)) as f:
        node = f.get(dataset.strip("/"))
        if isinstance(node, h5py.Dataset):
            return [_plain(path, node, redshift)]
        if isinstance(node, h5py.Group):
            return _store_layout(path, node)
        found = ", ".join(sorted(f.keys())) or "nothing"
        maps = _map_datasets(f)
        hint = (
            f"; maps in this file: {', '.join(maps[:5])}{' ...' if len(maps) > 5 else ''} "
            f"(choose one with --dataset {maps[0].lstrip('/')})"
            if maps
            else ""
        )
        raise PaintError(
            f"{path}: expected a dataset /{dataset} (a 2-D or 3-D map with a 'redshift' "
            f"attribute) or the store layout /{dataset}/z<z>/<depth>; found at the root: {found}{hint}"
        )


def _map_datasets(f: h5py.File) -> list[str]:
    """Names of the file's 2-D and 3-D numeric datasets: the ones that could be maps."""
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and np.issubdtype(obj.dtype, np.number):
            found.append("/" + name)

    f.visititems(visit)
    return found


def _plain(path: Path, ds: h5py.Dataset, redshift: float | None = None) -> MapSet:
    _check_maps(path, ds)
    n = 1 if ds.ndim == 2 else ds.shape[0]
    attr = next((a for a in REDSHIFT_ATTRS if a in ds.attrs), None)
    if attr is None and redshift is None:
        raise PaintError(
            f"{path}: {ds.name} has no 'redshift' (or 'z') attribute; give it with --redshift Z, or set "
            f"one number, or one per map (e.g. h5py: f['{ds.name.lstrip('/')}'].attrs['redshift'] = 0.5)"
        )
    try:
        z = np.ravel(np.asarray(ds.attrs[attr] if attr else redshift, dtype=float))
    except (TypeError, ValueError):
        raise PaintError(
            f"{path}: {ds.name}: its '{attr}' attribute must be a number, or one per map. Received: {ds.attrs[attr]!r}"
        ) from None
    if attr is not None and redshift is not None and not np.allclose(z, redshift, rtol=0, atol=1e-9):
        says = f"{float(z[0]):g}" if z.size == 1 else f"one redshift per map ({z.size})"
        raise PaintError(
            f"{path}: {ds.name} says {attr} = {says} but --redshift is {redshift:g}; leave out --redshift "
            "to use the file's, or correct the attribute"
        )
    if z.size == 1:
        z = np.repeat(z, n)
    if z.size != n:
        raise PaintError(
            f"{path}: {ds.name} holds {n} maps but its 'redshift' attribute has {z.size} values; "
            f"give one number, or one per map"
        )
    _check_redshifts(path, ds.name, z)
    return MapSet(
        ds.name,
        "/pressure",
        tuple(ds.shape),
        tuple(float(v) for v in z),
        {"redshift": z[0] if ds.ndim == 2 else z},
        _depth(path, ds),
    )


def _store_layout(path: Path, group: h5py.Group) -> list[MapSet]:
    maps = []
    for z_name in sorted(group):
        zgroup = group[z_name]
        if not isinstance(zgroup, h5py.Group):
            raise PaintError(
                f"{path}: {zgroup.name} is not a group of depths; the store layout is {group.name}/z<z>/<depth>"
            )
        for depth in sorted(zgroup, key=lambda d: (not d.isdigit(), int(d) if d.isdigit() else 0, d)):
            ds = zgroup[depth]
            if not isinstance(ds, h5py.Dataset):
                raise PaintError(f"{path}: {ds.name} is not a dataset")
            _check_maps(path, ds)
            z = _store_redshift(path, ds, z_name)
            n = 1 if ds.ndim == 2 else ds.shape[0]
            attrs = {"redshift": z} | ({"slice_depth": ds.attrs["slice_depth"]} if "slice_depth" in ds.attrs else {})
            maps.append(
                MapSet(ds.name, f"/pressure/{z_name}/{depth}", tuple(ds.shape), (z,) * n, attrs, _depth(path, ds))
            )
    if not maps:
        raise PaintError(
            f"{path}: {group.name} holds no redshift groups; the store layout is {group.name}/z<z>/<depth>"
        )
    return maps


def _store_redshift(path: Path, ds: h5py.Dataset, z_name: str) -> float:
    try:
        z = float(ds.attrs["redshift"]) if "redshift" in ds.attrs else float(z_name.removeprefix("z"))
    except (TypeError, ValueError):
        raise PaintError(
            f"{path}: {ds.name} has no 'redshift' attribute and its group's name is not z<redshift> (e.g. z0.500)"
        ) from None
    _check_redshifts(path, ds.name, np.array([z]))
    return z


def _depth(path: Path, ds: h5py.Dataset) -> float | None:
    name = next((a for a in ("slice_depth", "depth") if a in ds.attrs), None)
    if name is None:
        return None
    try:
        depth = float(np.asarray(ds.attrs[name]).item())
    except (TypeError, ValueError):
        depth = float("nan")
    if not depth > 0:
        raise PaintError(
            f"{path}: {ds.name}: its '{name}' attribute must be a positive depth in Mpc/h. Received: {ds.attrs[name]!r}"
        )
    return depth


def _check_maps(path: Path, ds: h5py.Dataset) -> None:
    if ds.ndim not in (2, 3) or not np.issubdtype(ds.dtype, np.number) or np.issubdtype(ds.dtype, np.complexfloating):
        raise PaintError(
            f"{path}: {ds.name} must be real maps, (H, W) or (N, H, W). Received: shape={ds.shape}, dtype={ds.dtype}"
        )


def _check_redshifts(path: Path, name: str, z: np.ndarray) -> None:
    if not np.all(np.isfinite(z)) or np.any(z < 0):
        raise PaintError(f"{path}: {name}: redshifts must be finite and >= 0. Received: {z.tolist()}")


# -- painting a file ---------------------------------------------------------------------------


def paint_file(
    painter: Painter,
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    dataset: str = "dm",
    samples: int = 1,
    latent: str = "sample",
    overlap: int | None = None,
    seed: int = 0,
    depth: float | None = None,
    rescale: bool = False,
    batch_size: int = 8,
    force: bool = False,
    progress: bool = False,
    warn: Callable[[str], None] = _stderr,
    maps: list[MapSet] | None = None,
    redshift: float | None = None,
) -> tuple[Path, int]:
    """Paint every map of ``input`` into ``output`` (see the module docstring for both).

    Args:
        painter: the trained generator.
        dataset: the input's dark-matter dataset or group.
        samples: latent draws per map (K >= 1; K > 1 adds a leading axis).
        latent: "sample" (prior draws, as the original) or "mean" (the prior's mean, K = 1).
        seed: of the latent draws; map i of the file is drawn with seed (seed, i).
        depth: projection depth [Mpc/h] of datasets without a depth attribute.
        rescale: bring each map's mean to the model's for its depth instead of judging it.
        overlap, batch_size: as for :meth:`Painter.paint`.
        force: replace an existing output.
        progress: a tqdm bar over tiles on stderr.
        warn: where warnings go (one line each).
        maps: ``scan_input(input, dataset)`` when the caller has it already (not read again).
        redshift: of a plain dataset without a 'redshift' or 'z' attribute.

    Returns:
        (the output path, the number of maps painted).
    """
    input, output = Path(input), Path(output)
    maps = scan_input(input, dataset, redshift) if maps is None else maps
    check_output(input, output, force)  # again: cheap, and the output may have appeared since the caller's check
    if samples < 1 or batch_size < 1 or latent not in ("sample", "mean") or (latent == "mean" and samples != 1):
        raise PaintError(
            f"--samples and --batch-size must be >= 1, --latent sample or mean (mean paints one map). "
            f"Received: {samples}, {batch_size}, {latent}"
        )
    per_map = [_tiles_per_map(painter, m, input, overlap) for m in maps]  # checks every map's size
    overlap = painter.check_geometry(maps[0].shape, overlap)
    with h5py.File(input, "r") as fin:
        scales = [_check_units(painter, fin, m, input, depth, rescale, warn) for m in maps]  # before any painting
    for line in painter.redshift_warnings([z for m in maps for z in m.redshifts]):
        warn(f"runner: warning: {line}")
    with atomic_path(output) as tmp:
        with (
            h5py.File(input, "r") as fin,
            h5py.File(tmp, "w") as fout,
            _bar(sum(t * m.n_maps for t, m in zip(per_map, maps)) * samples, progress) as bar,
        ):
            fout.attrs.update(_root_attrs(painter, input, samples, latent, seed, overlap))
            index = 0
            for m, scale in zip(maps, scales):
                _paint_set(
                    painter,
                    fin,
                    fout,
                    m,
                    input,
                    index,
                    scale,
                    samples=samples,
                    latent=latent,
                    overlap=overlap,
                    seed=seed,
                    batch_size=batch_size,
                    on_batch=bar.update,
                )
                index += m.n_maps
    return output, sum(m.n_maps for m in maps)


def _tiles_per_map(painter: Painter, m: MapSet, input: Path, overlap: int | None) -> int:
    try:
        return painter.tiles_per_map(m.shape, overlap)
    except PaintError as exc:
        raise PaintError(f"{input}:{m.source}: {exc}") from None


def _read_map(src: h5py.Dataset, j: int, where: str) -> np.ndarray:
    try:
        return src[j] if src.ndim == 3 else src[()]
    except OSError as exc:  # a truncated or corrupt file
        raise PaintError(f"{where}: cannot be read ({h5_reason(exc)[:160]})") from None


def _check_units(
    painter: Painter, fin: h5py.File, m: MapSet, input: Path, depth: float | None, rescale: bool, warn
) -> np.ndarray | None:
    """The dataset's maps against the model's units (read once, means only): warnings out,
    PaintError when refused; the per-map factors when rescaled, else None."""
    where = f"{input}:{m.source}"
    src = fin[m.source]
    maps = (_read_map(src, j, where) for j in range(m.n_maps))
    check = painter.check_units(
        maps, m.redshifts, depth=m.depth if m.depth is not None else depth, rescale=rescale, cli=True, label=where
    )
    for line in check.warnings:
        warn(f"runner: warning: {line}")
    return check.scale if rescale else None


def _paint_set(
    painter: Painter,
    fin: h5py.File,
    fout: h5py.File,
    m: MapSet,
    input: Path,
    first: int,
    scale: np.ndarray | None,
    *,
    samples: int,
    latent: str,
    overlap: int,
    seed: int,
    batch_size: int,
    on_batch,
) -> None:
    """Paint one input dataset into its output dataset, map by map."""
    stacked = len(m.shape) == 3
    shape = ((samples,) if samples > 1 else ()) + m.shape
    chunk = (1,) * (len(shape) - 2) + m.shape[-2:]
    out = fout.create_dataset(m.target, shape=shape, dtype="f4", chunks=chunk if len(shape) > 2 else None)
    out.attrs.update(
        {
            **m.attrs,
            "units": UNITS["pressure"],
            "source": m.source,
            "latent": _latent(samples, latent),
            "axes": ", ".join((["sample"] if samples > 1 else []) + (["map"] if stacked else []) + ["y", "x"]),
            **({"dm_scale": scale} if scale is not None else {}),
        }
    )
    src = fin[m.source]
    for j, z in enumerate(m.redshifts):
        where = f"{input}:{m.source}" + (f"[{j}]" if stacked else "")
        dm = _read_map(src, j, where)
        try:
            painted = painter.paint_map(
                dm if scale is None else dm * scale[j],
                z,
                samples=samples,
                latent=latent,
                overlap=overlap,
                seed=map_seed(seed, first + j),
                batch_size=batch_size,
                on_batch=on_batch,
            )  # (K, H, W), or (H, W) for one draw
        except PaintError as exc:
            raise PaintError(f"{where}: {exc}") from None
        if samples > 1 and stacked:
            out[:, j] = painted
        elif stacked:
            out[j] = painted
        else:
            out[...] = painted


def check_output(input: Path, output: Path, force: bool) -> None:
    """The output is not the input, and passes :func:`runner.data.write.check_output`."""
    if output.exists() and output.resolve() == Path(input).resolve():
        raise PaintError(f"{output}: the output would replace the input; choose another --output")
    store_write.check_output(output, force, PaintError)


def _root_attrs(painter: Painter, input: Path, samples: int, latent: str, seed: int, overlap: int) -> dict:
    import torch

    transforms = {f: t.to_config() for f, t in painter.transforms.items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **painter.provenance,
        "spec": archspec.dump(painter.spec),
        "archspec_version": str(archspec.__version__),
        "torch_version": str(torch.__version__),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": str(input.resolve()),
        "latent": _latent(samples, latent),
        "samples": samples,
        "seed": seed,
        "tile": painter.tile,
        "overlap": overlap,
        "units": UNITS["pressure"],
        "dm_units": str(painter.units),
        "transforms": json.dumps(transforms),
    }


def _latent(samples: int, latent: str) -> str:
    if latent == "mean":
        return "prior mean (z = mean of p(z|y))"
    return f"{samples} draw(s) per map from the prior p(z|y), drawn independently for every tile"


__all__ = [
    "FORMAT",
    "MapSet",
    "check_output",
    "map_seed",
    "paint_file",
    "scan_input",
]
