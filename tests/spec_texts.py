"""A small valid spec, as text, that tests mutate one row at a time."""

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


def locate(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle in text."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col
