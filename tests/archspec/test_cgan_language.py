"""What the spec language gained for the paper's conditional GAN (issue 23): ``LeakyReLU(0.2)``,
spectral norm, initialisation per row, the ``cgan`` kind's contract, per-phase training and
``lr.every``. Each is checked against an independent oracle: the torch function the name stands
for, a singular value decomposition, the initialisers' published variances, a hand count."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import archspec
from archspec.checking.overrides import load_with_warnings
from archspec.compile import EvalTwin, Row
from archspec.language.dump import to_data
from archspec.language.errors import SpecError
from archspec.language.resolve import Resolved
from archspec.presenting.show import summary_data
from tests.spec_texts import OLD_QUICKSTART_DATA, OLD_QUICKSTART_TRAINING, TINY_CGAN, TINY_SPEC, locate

ROOT = Path(__file__).resolve().parents[2]


def row(**changes) -> Resolved:
    values = dict(
        layer="Conv", c_in=None, c_out=256, kernel=3, stride=1, padding="auto", output_padding=0, bias=True,
        batchnorm=False, activation="none",
    )  # fmt: skip
    return Resolved(**(values | changes))


def problems(text: str, name: str = "s.yaml"):
    with pytest.raises(SpecError) as err:
        archspec.loads(text, name)
    return err.value.problems


# --- activations with a number ------------------------------------------------------------------


def test_leaky_relu_with_a_slope_is_torchs_leaky_relu_with_that_slope():
    torch.manual_seed(0)
    built = Row(row(c_out=4, activation="LeakyReLU(0.2)"), 2)
    plain = Row(row(c_out=4, activation="LeakyReLU"), 2)
    assert built.act.negative_slope == 0.2 and plain.act.negative_slope == 0.01  # torch's own default
    h = torch.randn(3, 4, 5, 5)
    assert torch.equal(built.act(h), torch.where(h > 0, h, 0.2 * h))


@pytest.mark.parametrize(
    "cell, message, fix",
    [
        ("ReLU(0.2)", "activation ReLU takes no number; found 'ReLU(0.2)'", "write ReLU"),
        ("LeakyReLU(1.5)", "its negative_slope, between 0 and 1; found 'LeakyReLU(1.5)'", "LeakyReLU(0.01)"),
        ("LeakyReLU(a)", "takes one number, its negative_slope", "LeakyReLU(0.01)"),
        ("LeakyRelu(0.2)", "unknown activation 'LeakyRelu'", "did you mean 'LeakyReLU'?"),
    ],
)
def test_a_wrong_activation_number_is_reported_at_its_cell(cell, message, fix):
    text = TINY_CGAN.replace("[Conv, 8/16, 4, 2, F, F]", f"[Conv, 8/16, 4, 2, F, F, '{cell}']")
    (problem,) = problems(text)
    assert (problem.line, problem.col) == locate(text, f"'{cell}'")
    assert message in problem.message and fix in problem.fix


# --- spectral norm and initialisation ----------------------------------------------------------


def test_spectral_norm_makes_the_largest_singular_value_one():
    """The oracle is an SVD of the weight the layer uses, reshaped (out, in·k·k) as Miyato et al.
    define it; the power iteration converges over training-mode forwards."""
    torch.manual_seed(0)
    layer = Row(row(c_out=16, spectral_norm=True, init="kaiming", activation="ReLU"), 8)
    plain = Row(row(c_out=16), 8)
    assert "conv.parametrizations.weight.original" in layer.state_dict()
    raw = layer.conv.parametrizations.weight.original.detach().reshape(16, -1)
    assert torch.linalg.svdvals(raw)[0] > 1.5  # Kaiming's start is far from 1: the norm does the work
    for _ in range(30):
        layer(torch.randn(2, 8, 6, 6))
    layer.eval()
    weight = layer.conv.weight.detach().reshape(16, -1)
    assert torch.linalg.svdvals(weight)[0].item() == pytest.approx(1.0, abs=1e-4)
    assert "parametrizations" not in dict(plain.named_modules())["conv"]._modules


def test_a_transposed_row_is_normalised_over_its_output_channels():
    """ConvTranspose2d's weight is (in, out, k, k): Miyato's matrix is (out, in·k·k), as torch's dim=1."""
    torch.manual_seed(0)
    layer = Row(row(layer="ConvTransp", c_out=6, kernel=4, stride=2, spectral_norm=True), 12)
    for _ in range(30):
        layer(torch.randn(2, 12, 4, 4))
    layer.eval()
    weight = layer.conv.weight.detach().transpose(0, 1).reshape(6, -1)
    assert torch.linalg.svdvals(weight)[0].item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "init, activation, std",
    [  # He et al. 2015: sqrt(2 / (1 + a^2)) / sqrt(fan_in); Glorot & Bengio 2010: gain * sqrt(2 / (fan_in + fan_out))
        ("kaiming", "LeakyReLU(0.2)", math.sqrt(2 / (1 + 0.2**2)) / math.sqrt(256 * 9)),
        ("kaiming", "ReLU", math.sqrt(2) / math.sqrt(256 * 9)),
        ("kaiming", "Tanh", 1 / math.sqrt(256 * 9)),
        ("xavier(0.25)", "Sigmoid", 0.25 * math.sqrt(2 / (256 * 9 + 256 * 9))),
        ("xavier", "none", math.sqrt(2 / (256 * 9 + 256 * 9))),
    ],
)
def test_initialisations_have_their_published_spread(init, activation, std):
    torch.manual_seed(0)
    weight = Row(row(init=init, activation=activation), 256).conv.weight.detach()  # 589,824 weights
    assert weight.mean().abs().item() < 0.01 * std
    assert weight.std().item() == pytest.approx(std, rel=0.01)


def test_the_default_initialisation_is_torchs_and_draws_the_same_numbers():
    """A spec that says nothing of init builds the weights it built before this existed."""
    torch.manual_seed(5)
    built = Row(row(c_out=8), 4).conv.weight
    torch.manual_seed(5)
    reference = nn.Conv2d(4, 8, 3, padding=1).weight
    assert torch.equal(built, reference)


def test_init_and_spectral_norm_are_checked_where_they_are_written():
    text = TINY_CGAN.replace("init: xavier(0.25)}\n    discriminator", "init: xavir(0.25)}\n    discriminator")
    (problem,) = problems(text)
    assert problem.code == "unknown_initialisation" and problem.fix == "did you mean 'xavier'?"
    assert (problem.line, problem.col) == locate(text, "xavir(0.25)")
    text = TINY_CGAN.replace("spectral_norm: T, init", "spectral_norm: maybe, init")
    (problem,) = problems(text)
    assert "expected T, F, true or false, found 'maybe'" in problem.message
    assert (problem.line, problem.col) == locate(text, "maybe")


def test_specs_that_do_not_use_the_new_columns_keep_their_hash():
    """The columns are left out of a spec's data at their defaults (the hash pins: docs/calibration.md)."""
    spec = archspec.load(
        ROOT / "specs" / "quickstart.yaml",
        ["training.calibration=none", *OLD_QUICKSTART_DATA, *OLD_QUICKSTART_TRAINING],
    )
    assert archspec.spec_hash(spec) == "f80641a4518b867e"  # tests/runner/science/test_calibration.py
    text = archspec.dump(spec)
    assert "spectral_norm" not in text and "init" not in text and "phases" not in text and "gan:" not in text
    assert "every" not in to_data(spec)["training"]["lr"]


def test_a_row_can_say_no_spectral_norm_under_a_default_that_says_yes():
    text = TINY_CGAN.replace(
        "- {layer: Conv, channels: 16/1, kernel: 3, batchnorm: F,",
        "- {layer: Conv, channels: 16/1, kernel: 3, spectral_norm: F, batchnorm: F,",
    )
    model = archspec.build(archspec.loads(text))
    names = [n for n, _ in model.discriminator.named_parameters()]
    assert "A.0.conv.parametrizations.weight.original" in names and "A.2.conv.weight" in names


# --- the kind ---------------------------------------------------------------------------------


def test_the_paper_cgan_has_the_cards_tables_and_parameter_count():
    """Counted by hand from the model card: k²·c_in·c_out weights, a bias where the column says T,
    BatchNorm's 2·c_out; ResBlocks of two 128/128 k3 convolutions without bias, each with BatchNorm."""
    spec = archspec.load(ROOT / "specs" / "paper_cgan.yaml")
    generator = (
        (81 * 2 * 32 + 2 * 32)  # Conv 2/32 k9, no bias, BN
        + (9 * 32 * 64 + 64 + 2 * 64)  # Conv 32/64 k3 s2, bias, BN
        + (9 * 64 * 128 + 128 + 2 * 128)
        + 9 * 2 * (9 * 128 * 128 + 2 * 128)  # ResBlock x 9
        + (9 * 128 * 64 + 64 + 2 * 64)  # ConvTransp 128/64
        + (9 * 64 * 32 + 32 + 2 * 32)
        + (81 * 32 * 1 + 1 + 2 * 1)  # Conv 32/1 k9, bias, BN, Tanh
    )
    discriminator = (16 * 3 * 64 + 64) + 16 * 64 * 128 + 16 * 128 * 256 + 16 * 256 * 512 + (16 * 512 + 1)
    assert (generator, discriminator) == (2_851_843, 2_763_841)
    assert summary_data(spec)["params"] == generator + discriminator  # archspec show's count
    with torch.device("meta"):  # real modules, shapes without computing a 512² forward
        meta = archspec.build(spec)
        counted = {n: sum(p.numel() for p in getattr(meta, n).parameters()) for n in ("generator", "discriminator")}
        assert counted == {"generator": generator, "discriminator": discriminator}
        y, x = torch.empty(2, 2, 512, 512), torch.empty(2, 1, 512, 512)
        assert meta.generator(y=y).shape == (2, 1, 512, 512)
        assert meta.discriminator(x=x, y=y).shape == (2, 1, 62, 62)  # pix2pix's PatchGAN: 70² patches


def test_the_kinds_contract_fixes_one_channel_of_scores_at_any_size():
    text = TINY_CGAN.replace(
        "channels: 16/1, kernel: 3, batchnorm: F, activation: Sigmoid",
        "channels: 16/2, kernel: 3, batchnorm: F, activation: Sigmoid",
    )
    (problem,) = problems(text)
    assert "discriminator must give one channel of scores (any size), [1, 8, 8]" in problem.message
    assert problem.fix == "write 16/1"
    reads_z = TINY_CGAN.replace("input: [x, y]", "input: [x, z]")
    (problem,) = problems(reads_z)
    assert "unknown input 'z'" in problem.message


def test_features_are_every_rows_output_and_end_with_the_scores():
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(TINY_CGAN)).eval()
    x, y = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    features = model.discriminator.features(x=x, y=y)
    assert [tuple(f.shape) for f in features] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 1, 8, 8)]
    assert torch.equal(features[-1], model.discriminator(x=x, y=y))
    assert torch.equal(model(y=y), model.generator(y=y))  # the model's forward is the painting


def test_the_inference_twin_of_a_spectrally_normalised_model_paints_as_the_model():
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(TINY_CGAN)).train()
    y = torch.rand(4, 2, 32, 32)
    for _ in range(3):
        model(y=y)  # power iterations and BatchNorm statistics move
    twin = EvalTwin(model).refreshed()
    model.eval()
    with torch.no_grad():
        assert torch.allclose(twin(y=y), model(y=y), atol=1e-6)


# --- training: phases and lr.every --------------------------------------------------------------


def test_training_phases_name_the_kinds_phases():
    text = TINY_CGAN.replace(
        "  gan: {perceptual: 2.5}", "  gan: {perceptual: 2.5}\n  phases: {discrimnator: {lr: {start: 4.0e-4}}}"
    )
    (problem,) = problems(text)
    assert problem.code == "unknown_phase" and problem.fix == "did you mean 'discriminator'?"
    assert "expected one of discriminator, generator" in problem.message
    cvae = TINY_SPEC.replace("  seed: 3", "  seed: 3\n  phases: {generator: {lr: {start: 1.0e-4}}}")
    (problem,) = problems(cvae)
    assert "expected 'model' (its only one)" in problem.message


def test_a_perceptual_term_needs_a_discriminator():
    text = TINY_SPEC.replace("  seed: 3", "  seed: 3\n  gan: {perceptual: 2.5}")
    (problem,) = problems(text)
    assert problem.code == "gan_only" and (problem.line, problem.col) == locate(text, "2.5}")


def test_a_spectral_term_needs_a_likelihood():
    text = TINY_CGAN.replace("  gan: {perceptual: 2.5}", "  gan: {perceptual: 2.5}\n  likelihood: {spectra: 10}")
    (problem,) = problems(text)
    assert problem.code == "likelihood_only" and (problem.line, problem.col) == locate(text, "10}")
    assert problem.fix.startswith("remove training.likelihood.spectra")
    cvae = archspec.loads(TINY_SPEC.replace("  seed: 3", "  seed: 3\n  likelihood: {spectra: 10}"))
    assert cvae.training.likelihood.spectra == 10  # a kind trained on a likelihood takes it


def test_lr_every_or_milestones_not_both():
    text = TINY_CGAN.replace("every: 3,", "every: 3, milestones: [4],")
    (problem,) = problems(text)
    assert "expected milestones or every, not both" in problem.message
    assert problem.fix == "remove milestones (every puts one at each multiple)"


def test_an_override_of_a_new_default_is_not_called_a_no_op(tmp_path):
    """--set of a part's spectral_norm (or padding_mode, init) changes what its rows are: no
    "changes nothing" warning; setting the model's to the value it has is one."""
    path = tmp_path / "gan.yaml"
    path.write_text(TINY_CGAN)
    for item in (
        "model.networks.discriminator.A.defaults.spectral_norm=F",
        "model.defaults.init=torch",
        "model.defaults.padding_mode=reflect",
    ):
        _, warnings = load_with_warnings(path, [item])
        assert warnings == [], item
    _, (warning,) = load_with_warnings(path, ["model.defaults.spectral_norm=T"])
    assert warning.message == "this override changes nothing: model.defaults.spectral_norm is 'T' already"
