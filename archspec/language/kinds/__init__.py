"""Model kinds: what a spec's networks must be and how the compiled model runs them.

A kind is declared once, in one module of this package, and registered by name in
:data:`KINDS`: its tensors, its networks with what each reads and must give (the contract that
:mod:`archspec.checking.semantics` and :mod:`archspec.checking.shapes` check), and how the compiled model runs
them (:mod:`archspec.compile` builds a generic module that calls the kind's ``forward``). The
runner declares, in ``runner/kinds/<name>.py``, how a kind is trained and how it paints.

    cvae        recognition(x, y), prior(y), generator(z, y): the paper's conditional VAE
    regression  painter(y) -> x: the deterministic baseline
    cgan        generator(y) -> x, discriminator(x, y) -> scores: the paper's conditional GAN

Lookup (``KINDS.get(name)``) is apart from construction; an unknown name lists the known ones.
"""

from __future__ import annotations

from archspec.language.kinds import cgan, cvae, regression  # noqa: F401  (each registers itself)
from archspec.language.kinds.base import KINDS, Kind, Role, Shape

__all__ = ["KINDS", "Kind", "Role", "Shape"]
