"""Registries of the names a spec may use: layer kinds, activations and initialisations.

Lookup is apart from construction: these registries hold what the checker needs (no torch);
:mod:`archspec.compile` keeps the torch builders under the same names, and a test keeps the two
key sets identical. A spec never names an import or an attribute: only these keys.

An activation or an initialisation that takes one number is written as a paper writes it,
``LeakyReLU(0.2)`` or ``xavier(0.25)``: the name is looked up, the number is checked against the
range its entry declares, and the builder receives it (``LeakyReLU`` alone takes the default,
0.01 as in torch). Nothing else is parsed: no keywords, no expressions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from archspec.language.errors import did_you_mean, one_of

T = TypeVar("T")


class UnknownName(LookupError):
    def __init__(self, kind: str, name: object, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        self.hint = did_you_mean(name, known)
        super().__init__(f"unknown {kind} {name!r}; expected one of {one_of(known)}")


class Registry(Generic[T]):
    """Name -> entry, filled by :meth:`add` (an entry that knows its ``name``) or :meth:`register`;
    duplicates and unknown names are errors.

    One registry per concept: what the checker needs of a name lives in its entry (no torch), and
    the compiler attaches how to build it (:meth:`builds`, looked up by :meth:`builder`) when it
    is imported, so a name cannot be known to one side and not to the other."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._builders: dict[str, Callable] = {}

    def add(self, entry: T) -> T:
        """Register ``entry`` under its own ``name``."""
        return self.register(entry.name)(entry)  # type: ignore[attr-defined]

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def builds(self, name: str) -> Callable[[Callable], Callable]:
        """Attach the function that builds ``name`` (the compiler's side)."""
        self.get(name)  # only a registered name can be built

        def attach(builder: Callable) -> Callable:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} has two builders")
            self._builders[name] = builder
            return builder

        return attach

    def builder(self, name: object) -> Callable:
        """The function that builds ``name``: known once the compiler is imported."""
        self.get(name)
        if name not in self._builders:
            raise LookupError(
                f"{self.kind} {name!r} is registered but nothing builds it (is archspec.compile imported?)"
            )
        return self._builders[name]  # type: ignore[index]

    def without_builder(self) -> list[str]:
        return [name for name in self.names() if name not in self._builders]

    def get(self, name: object) -> T:
        if not isinstance(name, str) or name not in self._entries:
            raise UnknownName(self.kind, name, self.names())
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([^()]*?)\s*\)\s*$")


@dataclass(frozen=True)
class Argument:
    """The one number an entry may take, written ``Name(value)``: what it is, its default and range."""

    name: str  # what torch calls it, for messages: "negative_slope", "gain"
    default: float
    low: float  # allowed: low <= value <= high
    high: float


class BadArgument(UnknownName):
    """``Name(value)`` whose name is known but whose value is not allowed (or not wanted)."""

    def __init__(self, kind: str, text: str, message: str, hint: str):
        LookupError.__init__(self, message)
        self.kind, self.name, self.known, self.hint = kind, text, [], hint


class CallRegistry(Registry[T]):
    """A registry whose entries may take one number, written ``Name(value)``.

    ``get``, ``in`` and ``builder`` accept the written form; :meth:`split` gives the name and the
    value (the entry's default when none is written). An entry declares its number with an
    ``argument`` attribute (an :class:`Argument`, or None for none)."""

    def split(self, text: object) -> tuple[str, float | None]:
        """``'LeakyReLU(0.2)'`` -> ``('LeakyReLU', 0.2)``; ``'LeakyReLU'`` -> ``('LeakyReLU', 0.01)``;
        ``'ReLU'`` -> ``('ReLU', None)``. Raises UnknownName (or BadArgument) otherwise."""
        if not isinstance(text, str):
            raise UnknownName(self.kind, text, self.names())
        match = _CALL.match(text)
        name = match.group(1) if match else text
        entry = super().get(name)  # an unknown name: UnknownName with the known ones
        argument = getattr(entry, "argument", None)
        if match is None:
            return name, None if argument is None else argument.default
        if argument is None:
            raise BadArgument(self.kind, text, f"{self.kind} {name} takes no number; found {text!r}", f"write {name}")
        try:
            value = float(match.group(2))
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and argument.low <= value <= argument.high):
            raise BadArgument(
                self.kind,
                text,
                f"{self.kind} {name} takes one number, its {argument.name}, between {argument.low:g} and "
                f"{argument.high:g}; found {text!r}",
                f"write e.g. {name}({argument.default:g})",
            )
        return name, value

    def get(self, name: object) -> T:
        return self._entries[self.split(name)[0]]

    def __contains__(self, name: object) -> bool:
        try:
            self.split(name)
        except UnknownName:
            return False
        return True

    def builder(self, name: object) -> Callable:
        """A zero-argument builder: the name's builder with the written (or default) number bound."""
        base, value = self.split(name)
        build = super().builder(base)
        return build if value is None else _Bound(build, value)


@dataclass(frozen=True)
class _Bound:
    build: Callable
    value: float

    def __call__(self, *args, **kwargs):
        return self.build(*args, self.value, **kwargs)


@dataclass(frozen=True)
class LayerKind:
    name: str
    transposed: bool  # ConvTranspose2d arithmetic: out = (in - 1) * stride - 2 * padding + kernel + output_padding
    doc: str


@dataclass(frozen=True)
class ActivationKind:
    name: str
    params: int  # learnable parameters (PReLU: one, shared over channels, as in the original)
    doc: str
    argument: Argument | None = None  # the number it may be written with: LeakyReLU(0.2)


@dataclass(frozen=True)
class InitKind:
    """How a row's convolution weight is initialised (its bias keeps torch's default)."""

    name: str
    doc: str
    argument: Argument | None = None


LAYERS: Registry[LayerKind] = Registry("layer")
ACTIVATIONS: CallRegistry[ActivationKind] = CallRegistry("activation")
INITS: CallRegistry[InitKind] = CallRegistry("initialisation")

for _layer in (
    LayerKind("Conv", False, "2-D convolution (torch.nn.Conv2d)"),
    LayerKind("ConvTransp", True, "2-D transposed convolution (torch.nn.ConvTranspose2d)"),
):
    LAYERS.add(_layer)

for _act in (
    ActivationKind("none", 0, "identity"),
    ActivationKind("ReLU", 0, "max(0, x)"),
    ActivationKind("PReLU", 1, "ReLU with one learnable negative slope"),
    ActivationKind("Softplus", 0, "log(1 + exp(x)), beta = 1"),
    ActivationKind(
        "LeakyReLU",
        0,
        "max(0, x) + slope * min(0, x); LeakyReLU(0.2) sets the slope (default 0.01, as torch)",
        Argument("negative_slope", 0.01, 0.0, 1.0),
    ),
    ActivationKind("ELU", 0, "alpha = 1"),
    ActivationKind("GELU", 0, "Gaussian error linear unit"),
    ActivationKind("SiLU", 0, "x * sigmoid(x)"),
    ActivationKind("Tanh", 0, "tanh(x)"),
    ActivationKind("Sigmoid", 0, "1 / (1 + exp(-x))"),
):
    ACTIVATIONS.add(_act)

for _init in (
    InitKind("torch", "torch's own default for the layer (kaiming_uniform_ with a = sqrt(5))"),
    InitKind(
        "kaiming",
        "kaiming_normal_ (He et al. 2015), fan_in, for the row's activation: its slope for LeakyReLU(a), 0 for "
        "ReLU, 0.25 for PReLU (its starting slope), linear gain for the rest",
    ),
    InitKind(
        "xavier",
        "xavier_normal_ (Glorot & Bengio 2010); xavier(0.25) sets the gain",
        Argument("gain", 1.0, 1e-6, 100.0),
    ),
):
    INITS.add(_init)
