"""``data.redshift_offset``: y's redshift channel holds z + offset (the paper's CGAN: f(z) = z − 1)
wherever y is made: the CPU and on-device datasets, the evaluation and the painter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import archspec
from runner.data.open import open_data
from runner.data.tiles import DeviceTiles
from runner.science.painter import Painter
from tests.spec_texts import TINY_CGAN


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSPEC_CACHE", str(tmp_path_factory.mktemp("cache")))
        plain = archspec.loads(TINY_CGAN)
        shifted = archspec.loads(TINY_CGAN.replace("  tile: 32", "  tile: 32\n  redshift_offset: -1"))
        yield plain, shifted, [open_data(s, torch.device("cpu")) for s in (plain, shifted)]


def test_the_redshift_channel_is_shifted_and_nothing_else(specs):
    plain, shifted, ((train0, _), (train1, _)) = specs
    idx = list(range(0, len(train0), max(1, len(train0) // 16)))
    (x0, y0), (x1, y1) = train0.batch(idx), train1.batch(idx)
    assert torch.equal(x0, x1) and torch.equal(y0[:, 0], y1[:, 0])
    assert torch.equal(y1[:, 1], y0[:, 1] - 1)  # the redshifts 0 and 1 become -1 and 0
    assert set(y0[:, 1].unique().tolist()) == {0.0, 1.0}
    device = DeviceTiles(train1.store, tile=32, split="train", device="cpu")
    device.z_offset = shifted.data.redshift_offset
    assert torch.equal(device.batch(idx)[1], y1)  # the on-device copy the same
    assert archspec.spec_hash(plain) != archspec.spec_hash(shifted)
    assert "redshift_offset" not in archspec.dump(plain)


def test_the_painter_and_the_evaluation_make_the_same_y(specs):
    from runner.science.evaluate import _plan

    _, shifted, (_, (_, test)) = specs
    plan = _plan(archspec.build(shifted), shifted, test, "cpu", None, 0, "sample", 4, 0, None)
    assert plan.z_offset == -1.0
    painter = type("P", (), {"spec": shifted, "transforms": test.transforms})()  # what network_input reads
    y = Painter.network_input(painter, np.full((32, 32), 1.0), 0.5)
    assert y.shape == (2, 32, 32) and np.all(y[1] == np.float32(-0.5))
