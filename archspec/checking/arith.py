"""Layer arithmetic: one small integer function per concept, torch's rules, no torch.

- Conv2d, along each axis: out = (in + 2p - k) // s + 1, and the kernel must fit: in + 2p >= k.
- ConvTranspose2d: out = (in - 1)·s - 2p + k + output_padding, with output_padding < s.
- ``padding: auto`` = (k - s) / 2: a Conv divides the size by s, a ConvTransp multiplies it by s.

Integer floor division is exact; no floats and no ``math.floor`` (STYLE.md, Keras's lesson).
"""

from __future__ import annotations


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Conv2d output size along one axis; below 1 when the kernel does not fit the padded input."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_out(size: int, kernel: int, stride: int, padding: int, output_padding: int = 0) -> int:
    """ConvTranspose2d output size along one axis; below 1 means no output."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def has_auto_padding(kernel: int, stride: int) -> bool:
    """Is (kernel - stride) / 2 a whole number >= 0?"""
    return kernel >= stride and (kernel - stride) % 2 == 0


def auto_padding(kernel: int, stride: int) -> int:
    """(kernel - stride) / 2: the padding that divides (Conv) or multiplies (ConvTransp) by the
    stride exactly. Raises ValueError where no padding does (k - s odd or negative)."""
    if not has_auto_padding(kernel, stride):
        raise ValueError(f"padding auto = (kernel - stride) / 2 = ({kernel} - {stride}) / 2 is not a whole number >= 0")
    return (kernel - stride) // 2


def dropped_pixels(size: int, kernel: int, stride: int, padding: int) -> int:
    """Input pixels a Conv leaves unread at the far edge (legal in torch, but usually a mistake)."""
    return max(size + 2 * padding - kernel, 0) % stride


def exact_padding(size: int, kernel: int, stride: int) -> int | None:
    """The smallest padding at which a Conv reads every pixel of ``size`` (None if none does)."""
    for padding in range(stride):
        if size + 2 * padding >= kernel and (size + 2 * padding - kernel) % stride == 0:
            return padding
    return None


def exact_sizes(size: int, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    """The input sizes nearest ``size`` (below, above) at which a Conv reads every pixel."""
    rest = dropped_pixels(size, kernel, stride, padding)
    return size - rest, size + (stride - rest) % stride


def conv_params(c_in: int, c_out: int, kernel: int, bias: bool) -> int:
    """Learnable parameters of a Conv2d or ConvTranspose2d (the same count for both)."""
    return c_in * c_out * kernel * kernel + (c_out if bias else 0)


def batchnorm_params(channels: int) -> int:
    """BatchNorm2d's weight and bias; running statistics are buffers, not parameters."""
    return 2 * channels
