"""The original's CGAN folder: its generator structure (``g_struc.pickle``) read without running
any of it and compared with ``specs/paper_cgan.yaml`` layer by layer. The structure file cannot be
fetched here; the tests pickle a generator built by hand from the model card (docs/cgan.md), with
the hook-style spectral norm of 2019 and a residual block of the original's package, as the
original's file would hold them."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import spectral_norm

import archspec
from runner.importers.original import OriginalImportError, import_original
from runner.importers.original_cgan import StructureError, differences, read_structure, spec_layers

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Spectral norm's power iterations at build time are many small matrix-vector products: with
    two threads on a busy machine they spin-wait for each other (0.1 s on one thread, 6 s on two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class ResBlock(nn.Module):
    """The card's block: act(x + BN(conv(act(BN(conv(x)))))), LeakyReLU(0.2), convolutions without bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(channels, channels, 3, 1, 1, bias=False))
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = nn.LeakyReLU(0.2)
        self.conv2 = spectral_norm(nn.Conv2d(channels, channels, 3, 1, 1, bias=False))
        self.bn2 = nn.BatchNorm2d(channels)
        self.act2 = nn.LeakyReLU(0.2)


def card_generator(first_kernel: int = 9) -> nn.Module:
    """The generator as the model card lists it (Johnson et al.'s paddings)."""

    def row(conv, channels, act=None):
        return [spectral_norm(conv), nn.BatchNorm2d(channels), act or nn.LeakyReLU(0.2)]

    return nn.Sequential(
        *row(nn.Conv2d(2, 32, first_kernel, 1, first_kernel // 2, bias=False), 32),
        *row(nn.Conv2d(32, 64, 3, 2, 1), 64),
        *row(nn.Conv2d(64, 128, 3, 2, 1), 128),
        *[ResBlock(128) for _ in range(9)],
        *row(nn.ConvTranspose2d(128, 64, 3, 2, 1, output_padding=1), 64),
        *row(nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1), 32),
        *row(nn.Conv2d(32, 1, 9, 1, 4), 1, nn.Tanh()),
    )


def write_structure(path: Path, module: nn.Module) -> Path:
    """Pickle ``module`` as the original did, its block a class of the original's package."""
    package, fake = types.ModuleType("baryon_painter"), types.ModuleType("baryon_painter.models")
    fake.ResBlock, package.models = ResBlock, fake
    before = ResBlock.__module__
    ResBlock.__module__ = "baryon_painter.models"
    sys.modules.update({"baryon_painter": package, "baryon_painter.models": fake})
    try:
        path.write_bytes(pickle.dumps(module))
    finally:
        ResBlock.__module__ = before
        del sys.modules["baryon_painter.models"], sys.modules["baryon_painter"]
    return path


def paper_generator_layers():
    return spec_layers(archspec.build(archspec.load(ROOT / "specs" / "paper_cgan.yaml")).generator)


def test_the_cards_generator_is_the_paper_specs_layer_for_layer(tmp_path):
    found = read_structure(write_structure(tmp_path / "g_struc.pickle", card_generator()))
    assert len([x for x in found if x.kind.startswith("Conv")]) == 3 + 18 + 3  # the card's convolutions
    assert all(x.spectral_norm for x in found if x.kind.startswith("Conv"))
    assert differences(found, paper_generator_layers()) == []


def test_a_different_kernel_is_named_with_both_sides(tmp_path):
    found = read_structure(write_structure(tmp_path / "g_struc.pickle", card_generator(first_kernel=7)))
    (problem,) = differences(found, paper_generator_layers())
    assert problem == (
        "convolution 0: the original's is Conv2d 2/32 k7 s1 p3 no bias SN, the spec's is Conv2d 2/32 k9 s1 p4 "
        "no bias SN"
    ).replace("the spec's is", "the spec's")


def test_a_quickstart_sized_spec_is_told_apart(tmp_path):
    found = read_structure(write_structure(tmp_path / "g_struc.pickle", card_generator()))
    quick = spec_layers(archspec.build(archspec.load(ROOT / "specs" / "quickstart_cgan.yaml")).generator)
    problems = differences(found, quick)
    assert problems[0].startswith("convolution 0: the original's is Conv2d 2/32 k9") and "2/8" in problems[0]
    assert "24 convolutions in the original, 10 in the spec" in problems


def test_a_pickle_that_would_run_code_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    path = tmp_path / "g_struc.pickle"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(StructureError, match=r"refused, it names (posix|os|nt)\.system; nothing of it was run"):
        read_structure(path)
    assert not marker.exists()
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(StructureError, match="not a readable pickle"):
        read_structure(path)


def test_import_original_recognises_a_cgan_folder_and_says_what_it_can_do(tmp_path):
    source = tmp_path / "CGAN" / "fiducial"
    source.mkdir(parents=True)
    write_structure(source / "g_struc.pickle", card_generator())
    (source / "g_85_95_iter.cp").write_bytes(b"weights")
    with pytest.raises(OriginalImportError) as err:
        import_original(source, tmp_path / "run")
    message = str(err.value)
    assert "the original's CGAN folder" in message and "layers match paper_cgan's, row for row" in message
    assert "Importing its weights (g_85_95_iter.cp) into a run folder is not supported yet" in message
    assert not (tmp_path / "run").exists()
    write_structure(source / "g_struc.pickle", card_generator(first_kernel=7))
    with pytest.raises(OriginalImportError, match="its generator differs from paper_cgan's: convolution 0"):
        import_original(source, tmp_path / "run")


def test_the_packaged_gan_spec_is_the_shipped_one():
    packaged = ROOT / "runner" / "importers" / "paper_cgan.yaml"
    assert packaged.read_text() == (ROOT / "specs" / "paper_cgan.yaml").read_text(), (
        "cp specs/paper_cgan.yaml runner/importers/paper_cgan.yaml"
    )
