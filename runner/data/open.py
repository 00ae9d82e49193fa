"""The train and test datasets a spec's ``data`` section describes, opened by one set of rules.

Training, evaluation and painting all open data here, so that a mock store comes from the same
cache and a store path means the same thing everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from runner.data.layout import DataError
from runner.data.mock import MockOptions, ensure_mock_store, mock_path
from runner.data.store import open_store

if TYPE_CHECKING:  # pragma: no cover
    import torch


def device_bytes(store) -> int:
    """Bytes that DeviceTiles holds for both splits of ``store``: 2 fields x 2 depths of float32."""
    return 4 * 4 * len(store.redshifts) * store.n_slices * store.grid**2


def fits_on_device(path: Path, device: torch.device) -> bool:
    """True when both splits of the store at ``path`` take at most half of ``device``'s free
    memory (the rest is the model's and its activations')."""
    import torch

    with open_store(path, scan=False) as store:
        nbytes = device_bytes(store)
    free, _ = torch.cuda.mem_get_info(device)
    return 2 * nbytes <= free


def cache_dir() -> Path:
    """Where generated mock stores live: $ARCHSPEC_CACHE, else ~/.cache/archspec."""
    return Path(os.environ.get("ARCHSPEC_CACHE") or Path.home() / ".cache" / "archspec").expanduser()


def store_path(data, master: bool = True, distributed: bool = False, progress: bool = False) -> Path:
    """The tile store of a spec's data section: ``store: mock`` generates the mock store into
    :func:`cache_dir` once; any other value is the path of a tile store.

    Under torchrun rank 0 makes the mock store while the others wait, and then they only look
    for it: on several machines the cache must be on a filesystem they share, or the store made
    on each beforehand (``runner data prepare SPEC``); a rank that cannot see it says so."""
    if data.store != "mock":
        return Path(data.store)
    options = mock_options(data)
    if not distributed:
        return ensure_mock_store(cache_dir(), progress=progress, **options)
    import torch.distributed as dist

    if master:
        path = ensure_mock_store(cache_dir(), progress=progress, **options)
        dist.barrier()  # the others wait for it
        return path
    dist.barrier()
    path = mock_path(cache_dir(), MockOptions(**options).validated())
    if not path.is_file():
        import socket

        raise DataError(
            f"the mock store that rank 0 made is not in this machine's cache ({path}, on "
            f"{socket.gethostname()}): set ARCHSPEC_CACHE to a folder every node shares, or run "
            "`runner data prepare SPEC` on each node before torchrun"
        )
    return path


def mock_options(data) -> dict:
    """The keyword arguments of :func:`ensure_mock_store` for a spec's data section."""
    options = {"grid": data.mock.grid, "slices": data.mock.slices, "seed": data.mock.seed, "sky": data.mock.sky}
    if data.mock.redshifts is not None:
        options["redshifts"] = tuple(data.mock.redshifts)
    return options


def open_data(
    spec,
    device: torch.device,
    *,
    on_device: bool | None = False,
    master: bool = True,
    distributed: bool = False,
    progress: bool = False,
) -> tuple:
    """The (train, test) datasets of ``spec``: ``TileDataset`` on the CPU, or ``DeviceTiles``
    holding each split on ``device`` when ``on_device`` (a run option, not part of the spec;
    None: on a GPU when both splits take at most half of its free memory)."""
    from runner.data.tiles import DeviceTiles, TileDataset

    data = spec.data
    path = store_path(data, master, distributed, progress)
    if on_device is None:
        on_device = device.type == "cuda" and fits_on_device(path, device)
    # ensure_mock_store validated a mock store (its writer refused NaN/inf), and DeviceTiles
    # checks every value it loads; otherwise open_store's default scan applies.
    scan = False if (data.store == "mock" or on_device) else None
    store = open_store(path, scan=scan)
    cls, kwargs = (DeviceTiles, {"device": device}) if on_device else (TileDataset, {})
    return tuple(open_split(spec, store, s, cls, **kwargs) for s in ("train", "test"))


def open_validation(spec, store):
    """The validation split of ``spec`` (``data.validation_slices``) on the CPU, read from
    ``store``, the store its training split holds open; None when the spec names none. Read only
    after training (the painting's calibration is fitted on it), so never held on a device."""
    return open_split(spec, store, "validation") if spec.data.validation_slices else None


def open_split(spec, store, name: str, cls=None, **kwargs):
    """One split (``name``: train, validation or test) of ``store``, an open store, as
    ``spec.data`` cuts it: its tile, test and validation slices, and the redshift channel's
    offset; a CPU ``TileDataset`` unless ``cls`` says otherwise (``DeviceTiles`` with its device)."""
    from runner.data.tiles import TileDataset

    cls = cls or TileDataset
    data = spec.data
    split = cls(
        store,
        tile=data.tile or spec.model.shapes["x"][1],
        split=name,
        test_slices=data.test_slices,
        validation_slices=data.validation_slices,
        **kwargs,
    )
    split.z_offset = float(data.redshift_offset)
    return split
