"""Painting and evaluation run in the precision the model trained in (a bf16-trained model can
paint very differently in fp32: the quickstart's prior log-variance at z = 0 was 1.45 under bf16
autocast and 9.0 in fp32, and fp32 prior draws blew its z = 0 paintings up)."""

from __future__ import annotations

import json

import numpy as np
import torch

import archspec
from runner.kinds import KINDS
from runner.science.painter import Painter, trained_precision
from tests.spec_texts import BASE


def test_the_precision_is_read_from_the_run_folder(tmp_path):
    ckpt = tmp_path / "checkpoint-8.pt"
    assert trained_precision(ckpt) == "fp32"  # nothing recorded: as before the fast path
    (tmp_path / "options.json").write_text(json.dumps({"resolved": {"precision": "bf16"}}))
    assert trained_precision(ckpt) == "bf16"


def test_a_bf16_painter_paints_as_the_model_under_bf16_autocast():
    spec = archspec.loads(BASE)
    torch.manual_seed(0)
    model = archspec.build(spec).eval()
    c, h, w = spec.model.shapes["y"]
    y = np.random.default_rng(0).random((2, c, h, w)).astype(np.float32)
    kind = KINDS.get(spec.model.kind)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected_bf16 = kind.paint(model, torch.from_numpy(y), "mean").float().numpy()
    with torch.no_grad():
        expected_fp32 = kind.paint(model, torch.from_numpy(y), "mean").float().numpy()
    transforms = {"dm": None, "pressure": None}
    bf16 = Painter(model, spec, transforms, torch.device("cpu"), precision="bf16").paint_tiles(y, "mean")
    fp32 = Painter(model, spec, transforms, torch.device("cpu")).paint_tiles(y, "mean")
    np.testing.assert_array_equal(bf16, expected_bf16)
    np.testing.assert_array_equal(fp32, expected_fp32)
    assert not np.array_equal(bf16, fp32)  # the two arithmetics differ: the choice matters
