"""padding_mode (issue 18 item 6): declared per model, part, block or row; compiled as torch pads;
a ConvTransp pads with zeros; the hash of every spec that does not use it stays as it was."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import archspec
from archspec.language.dump import spec_hash
from archspec.language.errors import SpecError

ROOT_SPEC = "specs/paper_cvae.yaml"
# spec_hash of the shipped specs before padding_mode existed (measured on the previous main, d6c56ec)
HASHES = {
    "specs/paper_cvae.yaml": "57753e7605ea1e19",
    "specs/regression.yaml": "6cb17da84a7fa47f",
    "specs/quickstart_regression.yaml": "387b6a374f86d7e4",
}


@pytest.mark.parametrize("path", sorted(HASHES))
def test_specs_without_padding_mode_keep_their_hash(path):
    assert spec_hash(archspec.load(path)) == HASHES[path]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_a_part_default_pads_as_torch_pads(tmp_path, mode):
    variant = tmp_path / "v.yaml"
    variant.write_text(
        f"extends: {archspec.__file__.rsplit('/archspec/', 1)[0]}/{ROOT_SPEC}\nname: v\n"
        f"model:\n  networks:\n    prior.A.defaults: {{padding_mode: {mode}}}\n"
    )
    spec = archspec.load(variant)
    assert spec_hash(spec) != HASHES[ROOT_SPEC]
    model = archspec.build(spec).eval()
    conv = next(m for m in model.prior.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.padding_mode == mode
    x = torch.randn(2, conv.in_channels, 16, 16)
    pad = conv.padding[0]
    expected = F.conv2d(F.pad(x, (pad,) * 4, mode=mode), conv.weight, conv.bias, stride=conv.stride)  # torch's own pad
    torch.testing.assert_close(conv(x), expected)


def test_a_transposed_row_that_asks_for_another_mode_is_refused_at_the_row(tmp_path):
    variant = tmp_path / "v.yaml"
    variant.write_text(
        f"extends: {archspec.__file__.rsplit('/archspec/', 1)[0]}/{ROOT_SPEC}\nname: v\n"
        "model:\n  networks:\n    generator.A.table[0]: {layer: ConvTransp, channels: 1/1, kernel: 4, stride: 2, "
        "padding_mode: reflect}\n"
    )
    with pytest.raises(SpecError) as err:
        archspec.load(variant)
    text = str(err.value)
    assert "a ConvTransp pads with zeros only" in text and "padding_mode" in text


def test_a_model_default_leaves_the_transposed_rows_at_zeros(tmp_path):
    variant = tmp_path / "v.yaml"
    variant.write_text(
        f"extends: {archspec.__file__.rsplit('/archspec/', 1)[0]}/{ROOT_SPEC}\nname: v\n"
        "model:\n  defaults: {padding_mode: replicate}\n"
    )
    model = archspec.build(archspec.load(variant))
    modes = {
        type(m).__name__: set() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    }
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            modes[type(m).__name__].add(m.padding_mode)
    assert modes == {"Conv2d": {"replicate"}, "ConvTranspose2d": {"zeros"}}
