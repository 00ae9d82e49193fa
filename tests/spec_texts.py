"""Spec texts the tests share: BASE, a small valid spec that tests mutate one row at a time,
TINY_SPEC, a trainable CVAE with its data section (the `tiny` fixture in conftest.py writes it),
TINY_REGRESSION, the regression kind on the same data, and TINY_CGAN, the conditional GAN on it."""

BASE = """\
archspec: 1
name: tiny
model:
  kind: cvae
  shapes: {x: [1, 32, 32], y: [2, 32, 32], z: [1, 8, 8]}
  defaults: {bias: F, batchnorm: T, activation: ReLU, padding: auto}
  blocks:
    Res:
      residual: T
      activation: ReLU
      table:
        - [Conv, 8/8, 3, 1, F, T, ReLU]
        - [Conv, 8/8, 3, 1, F, T, none]
  networks:
    recognition:
      A:
        input: x
        table:
          - [Conv, 1/4, 4, 2, F, T, ReLU]
          - [Conv, 4/8, 4, 2, F, T, ReLU]
      B:
        input: y
        table:
          - [Conv, 2/4, 4, 2, F, T, ReLU]
          - [Conv, 4/8, 4, 2, F, T, ReLU]
      C:
        input: [A, B]
        table:
          - [Conv, 16/2, 3, 1, F, T, none]
    prior:
      A:
        input: y
        table:
          - [Conv, 2/4, 4, 2, F, T, ReLU]
          - {layer: Conv, channels: 4/2, kernel: 4, stride: 2, activation: none}
    generator:
      A:
        input: z
        table:
          - [ConvTransp, 1/1, 4, 2, F, T, ReLU]
          - [ConvTransp, 1/1, 4, 2, F, T, ReLU]
      B:
        input: [A, y]
        table:
          - [Conv, 3/8, 3, 1, F, T, ReLU]
          - {block: Res, repeat: 2}
          - [Conv, 8/1, 3, 1, F, F, Softplus]
training:
  samples: 1000
  batch_size: [[0, 4], [8, 8]]
  lr: {start: 1.0e-3, factor: 0.1, milestones: [64, 96], min: 1.0e-6}
"""


# A CVAE of the paper's structure, small enough for a CPU step in milliseconds: 32^2 tiles, a
# 4^2 latent, on a mock store of 64^2 slices (4 tiles each), 2 slices, 2 redshifts.
TINY_SPEC = """\
archspec: 1
name: tiny_train
model:
  kind: cvae
  shapes: {x: [1, 32, 32], y: [2, 32, 32], z: [1, 4, 4]}
  defaults: {bias: F, batchnorm: T, activation: ReLU, padding: auto}
  networks:
    recognition:
      A: {input: x, table: [[Conv, 1/4, 4, 2], [Conv, 4/8, 8, 4]]}
      B: {input: y, table: [[Conv, 2/4, 4, 2], [Conv, 4/8, 8, 4]]}
      C: {input: [A, B], table: [[Conv, 16/2, 3, 1]]}
    prior:
      A: {input: y, table: [[Conv, 2/4, 4, 2], [Conv, 4/8, 8, 4], [Conv, 8/2, 3, 1]]}
    generator:
      A: {input: z, table: [[ConvTransp, 1/1, 8, 4], [ConvTransp, 1/1, 4, 2]]}
      B: {input: [A, y], table: [[Conv, 3/8, 3, 1], [Conv, 8/8, 3, 1], [Conv, 8/1, 3, 1, F, F, Softplus]]}
data:
  store: mock
  mock: {grid: 64, slices: 2, redshifts: [0, 1], seed: 0}
  tile: 32
training:
  samples: 480
  pseudo_epoch: 40
  batch_size: [[0, 4], [2, 8], [5, 12]]
  lr: {start: 3.0e-3, factor: 0.5, milestones: [6, 9], min: 1.0e-4}
  evaluation: {every: 24, batch_size: 8}
  checkpoint: {every: 200}
  log_every: 24
  seed: 3
"""


# The deterministic baseline on the tiny spec's data: painter(y) -> x, the generator's part B.
TINY_REGRESSION = """\
archspec: 1
name: tiny_regression
model:
  kind: regression
  shapes: {x: [1, 32, 32], y: [2, 32, 32]}
  defaults: {bias: F, batchnorm: T, activation: ReLU, padding: auto}
  networks:
    painter:
      A: {input: y, table: [[Conv, 2/8, 3, 1], [Conv, 8/8, 4, 2], [ConvTransp, 8/8, 4, 2], [Conv, 8/1, 3, 1, F, F, Softplus]]}
data:
  store: mock
  mock: {grid: 64, slices: 2, redshifts: [0, 1], seed: 0}
  tile: 32
training:
  samples: 480
  pseudo_epoch: 40
  batch_size: [[0, 4], [2, 8], [5, 12]]
  lr: {start: 3.0e-3, factor: 0.5, milestones: [6, 9], min: 1.0e-4}
  evaluation: {every: 24, batch_size: 8}
  checkpoint: {every: 200}
  log_every: 24
  seed: 3
"""


# The paper's conditional GAN in miniature (specs/paper_cgan.yaml's features: spectral norm,
# LeakyReLU(0.2), Kaiming and Xavier starts, a Tanh painting and a Sigmoid patch map) on the data
# of the tiny spec; the lr decays every 3 pseudo-epochs, the perceptual term at the paper's 2.5.
TINY_CGAN = """\
archspec: 1
name: tiny_cgan
model:
  kind: cgan
  shapes: {x: [1, 32, 32], y: [2, 32, 32]}
  defaults: {bias: T, batchnorm: T, activation: LeakyReLU(0.2), padding: auto, spectral_norm: T, init: kaiming}
  networks:
    generator:
      A:
        input: y
        table:
          - [Conv, 2/8, 3, 1, F, T]
          - [Conv, 8/8, 4, 2]
          - [ConvTransp, 8/8, 4, 2]
          - {layer: Conv, channels: 8/1, kernel: 3, batchnorm: F, activation: Tanh, init: xavier(0.25)}
    discriminator:
      A:
        input: [x, y]
        table:
          - [Conv, 3/8, 4, 2, T, F]
          - [Conv, 8/16, 4, 2, F, F]
          - {layer: Conv, channels: 16/1, kernel: 3, batchnorm: F, activation: Sigmoid, init: xavier(0.25)}
data:
  store: mock
  mock: {grid: 64, slices: 2, redshifts: [0, 1], seed: 0}
  tile: 32
training:
  samples: 480
  pseudo_epoch: 40
  batch_size: [[0, 4], [2, 8], [5, 12]]
  lr: {start: 1.0e-3, factor: 0.5, every: 3, min: 1.0e-5}
  optimizer: {name: Adam, betas: [0.5, 0.999]}
  gan: {perceptual: 2.5}
  evaluation: {every: 24, batch_size: 8}
  checkpoint: {every: 200}
  log_every: 24
  seed: 3
"""


def locate(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle in text."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


# The quickstart's data before 2026-12-07 (a 512² store of 3 slices, no validation slice): with
# these and training.calibration=none the quickstart hashes as it did before both fields existed.
OLD_QUICKSTART_DATA = (
    "data.mock.grid=512",
    "data.mock.slices=3",
    "data.test_slices=null",
    "data.validation_slices=null",
)
# The quickstart's training before its spectral term (2026-12-07, issue 18): 20,000 samples of the
# paper's loss; with these the quickstart hashes 48c053873ef8c024, as it did before the term existed.
OLD_QUICKSTART_TRAINING = (
    "training.likelihood.spectra=0",
    "training.samples=20000",
    "training.pseudo_epoch=80",
    "training.evaluation.every=72",
    "training.log_every=72",
    "training.checkpoint.every=5000",
)
