"""``kind: regression``: one network, ``painter(y) -> x``, the deterministic baseline.

Trained on the same data and schedule as the CVAE with a unit-variance Gaussian log-likelihood
(the runner's ``runner/kinds/regression.py``), it is what every painting paper compares a
generative model against: the conditional mean of x given y, with no latent.
"""

from __future__ import annotations

from archspec.language.kinds.base import KINDS, Kind, Role


def forward(model, y):
    return model.painter(y=y)  # (N, C_x, H, W)


KIND = KINDS.add(
    Kind(
        name="regression",
        doc="painter(y) gives x",
        tensors=("x", "y"),
        roles=(Role("painter", reads=("y",), output=lambda s: tuple(s["x"]), says="x's shape"),),
        forward=forward,
    )
)
