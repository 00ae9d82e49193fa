"""Reading the original's CGAN generator structure (``g_struc.pickle``) without running any of it,
and comparing it with a spec's generator.

The original pickled its generator module: a tree of torch modules (and perhaps classes of its
own package) with their settings. Unpickling it the usual way imports torch's classes and the
original's package, and rebuilds tensors through torch's loaders; a tampered file could run
anything. This reader builds only data:

- a global of ``torch`` or of the original's package (``baryon_painter``) becomes a placeholder
  *class*: never imported; creating one, or calling it, only records its arguments and state, so
  a module becomes its settings (``in_channels``, ``kernel_size``, ``_modules``, ...) and a tensor
  its placeholder;
- ``collections.OrderedDict`` is the real one (a module's children are kept in one);
- any other global (``os.system``, ``builtins.eval``, ...) stops the read before it is looked up,
  and persistent references are refused.

:func:`layers` lists the tree's layers in the order the modules were registered (depth first):
each convolution with its channels, kernel, stride, padding, output padding, bias and spectral
norm; each BatchNorm with its channels; each activation with its slope. :func:`spec_layers` lists
the same of a spec's compiled network, and :func:`differences` says where the two differ.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from runner.importers.original_meta import MetaError, Refused

STRUCTURE = "g_struc.pickle"  # the original's file name, in trained_models/CGAN/fiducial/
WEIGHTS = "g_85_95_iter.cp"  # its published generator weights (not fetchable here)
PLACEHOLDER_MODULES = ("torch", "baryon_painter")  # names under these become placeholders
MAX_BYTES = 64 << 20  # a structure file is kilobytes; a larger one is not read
MAX_DEPTH = 100


class StructureError(MetaError):
    """g_struc.pickle cannot be read, or is refused; one line naming the file."""


class Placeholder:
    """A class of torch or of the original, never imported: an instance keeps what pickle gave it."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        self.args, self.state = args + tuple(kwargs.values()), None

    def __setstate__(self, state) -> None:  # pickle's BUILD
        self.state = state

    def __repr__(self) -> str:
        return f"<placeholder {self.qualname}>"


_CLASSES: dict[str, type] = {}


def _placeholder(qualname: str) -> type:
    """One placeholder class per global name (a new type, holding only the name)."""
    if qualname not in _CLASSES:
        _CLASSES[qualname] = type(qualname.rsplit(".", 1)[-1], (Placeholder,), {"qualname": qualname})
    return _CLASSES[qualname]


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module.split(".")[0] in PLACEHOLDER_MODULES:
            return _placeholder(f"{module}.{name}")
        raise Refused(f"it names {module}.{name}")

    def persistent_load(self, pid):
        raise Refused("it holds persistent references")


@dataclass(frozen=True)
class Layer:
    """One layer as both sides describe it."""

    kind: str  # Conv2d, ConvTranspose2d, BatchNorm2d, or an activation's class name
    channels: tuple[int, ...] = ()  # (in, out) of a convolution, (features,) of a BatchNorm
    kernel: int | None = None
    stride: int | None = None
    padding: int | None = None
    output_padding: int | None = None
    bias: bool | None = None
    spectral_norm: bool | None = None
    slope: float | None = None  # a LeakyReLU's negative slope

    def __str__(self) -> str:
        if self.kind.startswith("Conv"):
            text = f"{self.kind} {self.channels[0]}/{self.channels[1]} k{self.kernel} s{self.stride} p{self.padding}"
            text += f" op{self.output_padding}" if self.output_padding else ""
            text += (" bias" if self.bias else " no bias") + (" SN" if self.spectral_norm else "")
            return text
        if self.kind == "BatchNorm2d":
            return f"BatchNorm2d {self.channels[0]}"
        return f"{self.kind}({self.slope:g})" if self.slope is not None else self.kind


def read_structure(path: str | Path) -> list[Layer]:
    """The layers of the pickled generator at ``path``, in registration order; nothing of it is run."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise StructureError(f"{path}: {size:,} bytes; a module structure is far smaller, not read")
        root = _Reader(io.BytesIO(path.read_bytes())).load()
    except Refused as exc:
        raise StructureError(f"{path}: refused, {exc}; nothing of it was run") from None
    except StructureError:
        raise
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise StructureError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    found = layers(root)
    if not found:
        raise StructureError(f"{path}: holds no convolution, BatchNorm or activation module")
    return found


def layers(node, depth: int = 0) -> list[Layer]:
    """The layers of a placeholder module tree, depth first in registration order."""
    if depth > MAX_DEPTH or not isinstance(node, Placeholder) or not isinstance(node.state, dict):
        return []
    state = node.state
    kind = node.qualname.rsplit(".", 1)[-1]
    if kind in ("Conv2d", "ConvTranspose2d"):
        params = state.get("_parameters") or {}
        spectral = "weight_orig" in params or any(
            isinstance(hook, Placeholder) and hook.qualname.endswith("SpectralNorm")
            for hook in (state.get("_forward_pre_hooks") or {}).values()
        )
        return [
            Layer(
                kind,
                (int(state["in_channels"]), int(state["out_channels"])),
                _one(state.get("kernel_size")),
                _one(state.get("stride")),
                _one(state.get("padding")),
                _one(state.get("output_padding")) if kind == "ConvTranspose2d" else 0,
                params.get("bias") is not None,
                spectral,
            )
        ]
    if kind == "BatchNorm2d":
        return [Layer(kind, (int(state["num_features"]),))]
    if kind == "LeakyReLU":
        return [Layer(kind, slope=float(state.get("negative_slope", 0.01)))]
    if kind in ("ReLU", "PReLU", "Tanh", "Sigmoid", "Softplus", "ELU", "GELU", "SiLU"):
        return [Layer(kind)]
    out: list[Layer] = []
    for child in (state.get("_modules") or {}).values():
        out += layers(child, depth + 1)
    return out


def _one(value) -> int | None:
    """kernel_size (9, 9) -> 9; a non-square value is kept as its first side (the spec's are square)."""
    if value is None:
        return None
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def spec_layers(module) -> list[Layer]:
    """The same list for a compiled network of a spec (:func:`archspec.build`), in the order its
    modules run: each row's convolution, BatchNorm and activation, a residual block's activation
    after its rows."""
    import torch
    from torch.nn.utils import parametrize

    out: list[Layer] = []
    for sub in module.modules():
        conv = isinstance(sub, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
        if conv:
            transposed = isinstance(sub, torch.nn.ConvTranspose2d)
            out.append(
                Layer(
                    "ConvTranspose2d" if transposed else "Conv2d",
                    (sub.in_channels, sub.out_channels),
                    sub.kernel_size[0],
                    sub.stride[0],
                    sub.padding[0],
                    sub.output_padding[0] if transposed else 0,
                    sub.bias is not None,
                    parametrize.is_parametrized(sub, "weight"),
                )
            )
        elif isinstance(sub, torch.nn.BatchNorm2d):
            out.append(Layer("BatchNorm2d", (sub.num_features,)))
        elif isinstance(sub, torch.nn.LeakyReLU):
            out.append(Layer("LeakyReLU", slope=float(sub.negative_slope)))
        elif type(sub).__name__ in ("ReLU", "PReLU", "Tanh", "Sigmoid", "Softplus", "ELU", "GELU", "SiLU"):
            out.append(Layer(type(sub).__name__))
    return out


def differences(original: list[Layer], ours: list[Layer]) -> list[str]:
    """Where the two lists differ: the convolutions and BatchNorms in order (they fix shapes and
    parameters), the activations as counts (a module tree may register a block's activation
    before or after its rows); empty when they agree."""
    out = []
    for what, keep in (("convolution", _is_conv), ("BatchNorm", lambda layer: layer.kind == "BatchNorm2d")):
        a, b = [x for x in original if keep(x)], [x for x in ours if keep(x)]
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                out.append(f"{what} {i}: the original's is {x}, the spec's {y}")
        if len(a) != len(b):
            out.append(f"{len(a)} {what}s in the original, {len(b)} in the spec")
    acts = lambda layers_: sorted(str(x) for x in layers_ if not _is_conv(x) and x.kind != "BatchNorm2d")  # noqa: E731
    if acts(original) != acts(ours):
        count = lambda names: {n: names.count(n) for n in dict.fromkeys(names)}  # noqa: E731
        out.append(f"activations: the original has {count(acts(original))}, the spec {count(acts(ours))}")
    return out


def _is_conv(layer: Layer) -> bool:
    return layer.kind in ("Conv2d", "ConvTranspose2d")
