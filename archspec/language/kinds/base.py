"""What a model kind declares, and the registry of kinds. Torch-free.

How a new kind registers (``archspec/language/kinds/<name>.py``, imported by its ``__init__.py``)::

    KIND = KINDS.add(Kind(
        name="mykind", doc="...", tensors=("x", "y"),
        roles=(Role("painter", reads=("y",), output=lambda s: s["x"], says="x's shape"),),
        forward=forward))                    # forward(model, **tensors): calls model.<network>(...)

The conditional GAN (:mod:`archspec.language.kinds.cgan`) declares two roles, ``generator(y) ->
x's shape`` and ``discriminator(x, y) -> (1, None, None)`` (one channel of scores at any size:
``None`` leaves an axis free), a ``forward`` that returns the generator's output, and two
``phases``. Its training (two optimizers, alternating steps) is the runner's business:
``runner/kinds/<name>.py`` declares one phase per name (:class:`runner.kinds.base.Phase`), each
with the parameters it steps and its loss. Nothing here assumes one optimizer, a latent, or
Gaussian heads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archspec.language.registry import Registry

Shape = tuple  # (C, H, W); in a role's output, None leaves an axis free


@dataclass(frozen=True)
class Role:
    """One network of a kind.

    Attributes:
        name: the network's key under ``model.networks``.
        reads: the model tensors its parts may read (besides its own earlier parts).
        output: the shape it must give, from the model's tensor shapes (None: any shape; an
            axis of None: any size along it).
        says: the output in words, for messages ("x's shape").
        gaussian: its channels are (mean, log-variance) halves; the compiled network returns both.
    """

    name: str
    reads: tuple[str, ...]
    output: Callable[[Mapping[str, Sequence[int]]], Shape | None]
    says: str | Callable[[Mapping[str, Sequence[int]]], str]
    gaussian: bool = False

    def describe(self, shapes: Mapping[str, Sequence[int]]) -> str:
        return self.says(shapes) if callable(self.says) else self.says


@dataclass(frozen=True)
class Kind:
    """A model kind.

    Attributes:
        name: what ``model.kind`` says.
        doc: one line: the networks and what each reads and gives.
        tensors: the model tensors ``model.shapes`` must list, as [C, H, W]; the first is the
            reference size of ``archspec show --sizes``.
        roles: its networks, in the order they run.
        forward: ``forward(model, **tensors)``: the compiled model's forward pass, calling its
            networks as ``model.<name>(**tensors)``. It may use tensor methods only (no torch
            import here: ``archspec check`` never imports torch).
        phases: the names of its training phases, each one optimizer with its own schedule, in
            the order they run at every step; ``training.phases`` may give each its own
            optimizer and learning rate. The runner's kind declares the same names.
    """

    name: str
    doc: str
    tensors: tuple[str, ...]
    roles: tuple[Role, ...]
    forward: Callable[..., Any]
    phases: tuple[str, ...] = ("model",)

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.roles)

    def role(self, network: str) -> Role | None:
        return next((r for r in self.roles if r.name == network), None)

    def reads(self, network: str, tensors: Sequence[str]) -> tuple[str, ...]:
        """The model tensors ``network`` may read (any of ``tensors`` for a network the kind does not name)."""
        role = self.role(network)
        return role.reads if role is not None else tuple(tensors)


KINDS: Registry[Kind] = Registry("model kind")
