"""Registries of the names a spec may use: layer kinds and activations.

Lookup is apart from construction: these registries hold what the checker needs (no torch);
:mod:`archspec.compile` keeps the torch builders under the same names, and a test keeps the two
key sets identical. A spec never names an import or an attribute: only these keys.
"""

from __future__ import annotations

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


LAYERS: Registry[LayerKind] = Registry("layer")
ACTIVATIONS: Registry[ActivationKind] = Registry("activation")

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
    ActivationKind("LeakyReLU", 0, "negative slope 0.01"),
    ActivationKind("ELU", 0, "alpha = 1"),
    ActivationKind("GELU", 0, "Gaussian error linear unit"),
    ActivationKind("SiLU", 0, "x * sigmoid(x)"),
    ActivationKind("Tanh", 0, "tanh(x)"),
    ActivationKind("Sigmoid", 0, "1 / (1 + exp(-x))"),
):
    ACTIVATIONS.add(_act)
