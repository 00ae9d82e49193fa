"""A checkpoint damaged on disk is detected by its zip container's CRC-32 on every read, and a
run, a painting and an evaluation fall back to the previous checkpoint (issue 19, item 3)."""

from __future__ import annotations

import zipfile

import pytest
import torch

from runner import checkpoint as ck
from runner.cli import main as runner_main


def data_members(path):
    """(name, offset of its first byte in the file, size) of each tensor storage, in file order."""
    out = []
    with zipfile.ZipFile(path) as archive, open(path, "rb") as f:
        for info in archive.infolist():
            if "/data/" not in info.filename or info.file_size < 8:
                continue
            f.seek(info.header_offset)
            header = f.read(30)
            name_len, extra_len = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
            out.append((info.filename, info.header_offset + 30 + name_len + extra_len, info.file_size))
    return sorted(out, key=lambda m: m[1])


def flip(path, offset, bit=6):
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("integrity") / "run"
    assert (
        runner_main(
            [
                "train",
                str(tiny),
                "--out",
                str(out),
                "--quiet",
                "--no-eval",
                "--set",
                "training.samples=48",
                "--set",
                "training.checkpoint.every=16",
            ]
        )
        == 0
    )
    return out


@pytest.mark.parametrize("which", ["first", "last"])
def test_one_flipped_bit_anywhere_in_the_tensors_is_detected(run, tmp_path, which):
    newest = ck.candidates(run)[0]
    copy = tmp_path / newest.name
    copy.write_bytes(newest.read_bytes())
    members = data_members(copy)
    name, offset, size = members[0] if which == "first" else members[-1]
    clean = torch.load(copy, weights_only=True)  # loads; and after the flip torch alone would too
    flip(copy, offset + size // 2 // 4 * 4 + 3)  # an exponent bit of a float32 in the middle
    assert torch.load(copy, weights_only=True).keys() == clean.keys()  # torch does not notice
    with pytest.raises(ck.CheckpointError, match="damaged on disk: the stored checksum") as err:
        ck.read(copy)
    assert name.split("/", 1)[-1] in str(err.value)


def test_paint_and_resume_fall_back_to_the_previous_checkpoint(run, tmp_path, capsys):
    found = ck.candidates(run)
    assert len(found) >= 2, found
    newest, previous = found[0], found[1]
    saved = newest.read_bytes()
    try:
        name, offset, size = data_members(newest)[0]
        flip(newest, offset + 3)
        state, path = ck.read_latest(run, warn=lambda m: print(m), use="painting with")
        assert path == previous
        out = capsys.readouterr().out
        assert f"painting with {previous.name} instead" in out and "damaged on disk" in out
    finally:
        newest.write_bytes(saved)
