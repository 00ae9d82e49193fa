"""Import the original's npy maps into a tile store, one slice at a time.

The original kept `{field}_z{z:.3f}_train_{100|150}.npy`, each (n_slices, grid, grid) float32
(14 x 2048 x 2048: 235 MB a file, ~10 GB in all). Files are memory-mapped and copied slice by
slice, so memory use stays at a few slices whatever the size.

Dark matter is stored in the convention of layout.UNITS, the original's at load time: the raw
npy maps (a summed sample's mean is ~1,070 at z = 0) are multiplied by
layout.original_dm_scale(grid), as the original did when it loaded them. Maps already in that
convention are imported with dm_scale=1. Either way the summed sample's mean must come out
within DM_SUM_MEAN_RTOL of DM_SUM_MEAN at every redshift, or nothing is written.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from runner.data.layout import (
    DEPTHS,
    DM_SUM_MEAN,
    DM_SUM_MEAN_RTOL,
    FIELDS,
    PIXEL_SIZE,
    DataError,
    dataset_path,
    original_dm_scale,
)
from runner.data.write import StoreWriter, check_output

NAME = "{field}_z{z:.3f}_train_{depth}.npy"


def npy_name(field: str, z: float, depth: int) -> str:
    return NAME.format(field=field, z=z, depth=depth)


def find_redshifts(src: Path, field: str, option: str = "--dm-name") -> list[float]:
    """Redshifts present for `field` (any depth), from the file names."""
    pattern = re.compile(rf"^{re.escape(field)}_z(\d+\.\d{{3}})_train_(?:{'|'.join(map(str, DEPTHS))})\.npy$")
    found = {float(m.group(1)) for p in src.iterdir() if (m := pattern.match(p.name))}
    if not found:
        raise DataError(f"{src}: no files named like {npy_name(field, 0.0, DEPTHS[0])} (is {option} {field} right?)")
    return sorted(found)


def open_maps(src: Path, names: dict, redshifts: list[float]) -> tuple[dict, tuple]:
    """Memory-map every file; check presence, shape and dtype. Returns (maps, shape)."""
    wanted = {(f, z, d): src / npy_name(names[f], z, d) for f in FIELDS for z in redshifts for d in DEPTHS}
    missing = [p.name for p in wanted.values() if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 4} more)" if len(missing) > 4 else ""
        raise DataError(f"{src}: missing {len(missing)} of {len(wanted)} files: {', '.join(missing[:4])}{more}")
    maps, shape, first = {}, None, None
    for key, path in wanted.items():
        try:
            a = np.load(path, mmap_mode="r")
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path.name}: not a readable npy file ({exc})") from None
        if a.ndim != 3 or a.shape[1] != a.shape[2] or not np.issubdtype(a.dtype, np.floating):
            raise DataError(f"{path.name}: shape {a.shape} dtype {a.dtype}, expected (n_slices, grid, grid) float32")
        if shape is None:
            shape, first = a.shape, path.name
        elif a.shape != shape:
            raise DataError(
                f"{path.name}: shape {a.shape} differs from {first}'s {shape}; "
                f"all files must hold the same slices and grid"
            )
        maps[key] = a
    if shape[0] < 2:
        raise DataError(f"{first}: {shape[0]} slice per depth; a train/test split needs two")
    return maps, shape


def check_dm_convention(means: dict, scale: float, default: bool) -> None:
    """DataError unless every redshift's summed dark-matter mean (z -> mean) is ~DM_SUM_MEAN."""
    off = {z: m for z, m in means.items() if abs(m / DM_SUM_MEAN - 1) > DM_SUM_MEAN_RTOL}
    if not off:
        return
    z, m = next(iter(off.items()))
    how = "the original's load-time factor Omega_m/(Omega_m - Omega_b)/(n_grid/8*5)" if default else "--dm-scale"
    raise DataError(
        f"dark matter of a summed 100 + 150 Mpc/h sample has mean {m:.4g} at z={z:g} "
        f"after scaling by {scale:.6g} ({how}), expected ~{DM_SUM_MEAN:g} "
        f"({len(off)} of {len(means)} redshifts off); maps already in that "
        f"convention: --dm-scale 1; otherwise --dm-scale {scale * DM_SUM_MEAN / m:.6g}"
    )


def import_npy(
    src,
    out,
    dm_name: str = "dm",
    pressure_name: str = "pressure",
    redshifts: list[float] | None = None,
    box_size: float | None = None,
    dm_scale: float | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write the npy maps in folder `src` into the store `out`.

    Args:
        src: folder with the original's files. out: the store (refused if it exists, unless force).
        dm_name, pressure_name: the `{field}` of the file names.
        redshifts: which to import; default every redshift found for the dark matter.
        box_size: Mpc/h; default grid x 0.1953125 (the original's 400 Mpc/h on 2048 pixels).
        dm_scale: factor on the dark matter; default the original's load-time factor for the
            maps' grid (layout.original_dm_scale), 1 for maps already in layout.UNITS.
    Raises:
        DataError: files missing or malformed, NaN/inf, or dark matter off the convention.
    """
    from tqdm import tqdm

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"{src}: not a folder")
    if dm_scale is not None and not (np.isfinite(dm_scale) and dm_scale > 0):
        raise DataError(f"--dm-scale must be a positive number (received {dm_scale})")
    check_output(out, force)
    names = {"dm": dm_name, "pressure": pressure_name}
    zs = sorted(float(z) for z in redshifts) if redshifts else find_redshifts(src, dm_name)
    maps, (n, grid, _) = open_maps(src, names, zs)
    box = float(box_size) if box_size else grid * PIXEL_SIZE
    scale = float(dm_scale) if dm_scale is not None else original_dm_scale(grid)
    first = zs[0]  # fail before copying gigabytes: the first redshift's maps decide most cases
    check_dm_convention(
        {first: scale * sum(float(maps[("dm", first, d)].mean(dtype=np.float64)) for d in DEPTHS)},
        scale,
        dm_scale is None,
    )
    provenance = (
        f"imported from {src.resolve()}: {dm_name}_z*_train_*.npy (x {scale:.6g}) and {pressure_name}_z*_train_*.npy"
    )
    with StoreWriter(
        out,
        grid=grid,
        n_slices=n,
        redshifts=zs,
        box_size=box,
        provenance=provenance,
        force=force,
        attrs={"dm_scale": scale},
    ) as w:
        for (field, z, depth), a in tqdm(maps.items(), desc=f"import {out.name}", unit="file", disable=not progress):
            factor = scale if field == "dm" else 1.0
            for s in range(n):
                w.write(
                    field,
                    z,
                    depth,
                    s,
                    a[s] * factor if factor != 1.0 else a[s],
                    source=f"{npy_name(names[field], z, depth)}[{s}]",
                )
        check_dm_convention(
            {z: sum(w.stats[dataset_path("dm", z, d)].mean for d in DEPTHS) for z in zs}, scale, dm_scale is None
        )
    return out
