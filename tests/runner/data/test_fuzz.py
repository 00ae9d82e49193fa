"""Damaged HDF5 metadata is one line naming the file and the object, never a traceback (issue 19,
item 2): 300 single-byte corruptions of a small store's header bytes, opened, read and described."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import h5py
import pytest

from runner.data import generate_mock
from runner.data.layout import DataError


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "small.h5"
    generate_mock(path, grid=32, slices=2, redshifts=(0.0, 1.0), progress=False)
    return path


def header_length(path) -> int:
    """Bytes before the first dataset's data: the superblock, object headers, attributes."""
    with h5py.File(path, "r") as f:
        offsets = []

        def first_byte(name, obj):
            if isinstance(obj, h5py.Dataset):  # contiguous, or the first of its chunks
                offsets.append(obj.id.get_offset() if obj.chunks is None else obj.id.get_chunk_info(0).byte_offset)

        f.visititems(first_byte)
    return min(o for o in offsets if o is not None)


FUZZ = textwrap.dedent("""
    import json, sys
    import numpy as np
    from runner.data.layout import DataError
    from runner.data.store import describe, open_store
    src, dst, n_header, seeds = sys.argv[1], sys.argv[2], int(sys.argv[3]), range(int(sys.argv[4]))
    clean = open(src, "rb").read()
    outcome = {"clean_error": 0, "unnoticed": 0, "traceback": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        data = bytearray(clean)
        at = int(rng.integers(0, n_header))
        data[at] ^= 0xFF if seed % 2 else int(rng.integers(1, 256))
        open(dst, "wb").write(bytes(data))
        try:
            with open_store(dst, scan=True) as store:
                describe(store)
                for field in store.fields:
                    for z in store.redshifts:
                        for depth in store.depths:
                            store.read_slice(field, z, depth, 0)
            outcome["unnoticed"] += 1
        except DataError as exc:
            assert "\\n" not in str(exc) and dst in str(exc), str(exc)
            outcome["clean_error"] += 1
        except Exception as exc:
            outcome["traceback"].append(f"byte {at}: {type(exc).__name__}: {exc}"[:300])
    print(json.dumps(outcome))
""")


def test_300_corruptions_of_the_header_give_no_traceback(small, tmp_path):
    n = header_length(small)
    assert n > 1000
    done = subprocess.run(
        [sys.executable, "-c", FUZZ, str(small), str(tmp_path / "bad.h5"), str(n), "300"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["traceback"] == [], outcome["traceback"][:5]
    assert outcome["clean_error"] > 50, outcome  # the corruptions are real: most are refused


@pytest.mark.parametrize("at, xor", [(1712, [0xFF]), (20216, [0xFF] * 32)])
def test_the_reported_corruptions_are_one_line(small, tmp_path, at, xor):
    from runner.data.store import open_store

    data = bytearray(small.read_bytes())
    if at + len(xor) > header_length(small):
        pytest.skip("this small store's header is shorter")
    for i, x in enumerate(xor):
        data[at + i] ^= x
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(data))
    try:
        with open_store(bad, scan=True) as store:
            store.read_slice("dm", 0.0, 100, 0)
    except DataError as exc:
        assert str(bad) in str(exc) and "\n" not in str(exc)
