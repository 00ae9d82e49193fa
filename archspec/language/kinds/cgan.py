"""``kind: cgan``: the paper's second painter, a conditional GAN (Tröster et al. 2019, §3.2).

    generator(y)        -> x's shape          the painting, from the dark matter and its redshift
    discriminator(x, y) -> (1, any, any)      a map of scores in (0, 1), one per patch (PatchGAN)

The generator is deterministic (the original's has no noise input: pix2pix's conditional
generator, after Johnson, Alahi & Fei-Fei 2016); painting is its output. The discriminator reads
a pressure map with the condition it belongs to, and scores every patch "real"; its output
size is free (the contract fixes one channel). The compiled model's forward is the painting.
The runner trains the two in two phases, each with its own optimizer (``runner/kinds/cgan.py``).
"""

from __future__ import annotations

from archspec.language.kinds.base import KINDS, Kind, Role


def forward(model, y, x=None, phase=None):
    """The painting ``generator(y)``; with ``phase``, what that training phase's loss needs, so
    that every phase runs through the (possibly DistributedDataParallel-wrapped) model's forward:

    - ``"discriminator"``: (scores of (x, y), scores of (painting, y)), the painting detached;
    - ``"generator"``: (features of (x, y), features of (painting, y)): the map itself first,
      then every row's output of the discriminator's tables, its scores last
      (:meth:`archspec.compile.Network.features`).
    """
    painted = model.generator(y=y)  # (N, C_x, H, W)
    if phase is None:
        return painted
    if phase == "discriminator":
        return model.discriminator(x=x, y=y), model.discriminator(x=painted.detach(), y=y)
    if phase == "generator":
        real = [x, *model.discriminator.features(x=x, y=y)]
        return real, [painted, *model.discriminator.features(x=painted, y=y)]
    raise ValueError(f"cgan: unknown phase {phase!r}; expected 'discriminator' or 'generator'")


KIND = KINDS.add(
    Kind(
        name="cgan",
        doc="generator(y) gives x; discriminator(x, y) gives one channel of scores in (0, 1) at any size",
        tensors=("x", "y"),
        roles=(
            Role("generator", reads=("y",), output=lambda s: tuple(s["x"]), says="x's shape"),
            Role(
                "discriminator",
                reads=("x", "y"),
                output=lambda s: (1, None, None),
                says="one channel of scores (any size)",
            ),
        ),
        forward=forward,
        phases=("discriminator", "generator"),
    )
)
