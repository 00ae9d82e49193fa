"""How the runner trains and paints each model kind, registered by the kind's name.

One module per kind (``runner/kinds/<name>.py``) declares, for the kind that
:mod:`archspec.language.kinds` declares under the same name: the terms it logs, its training phases
(each an optimizer, the parameters it steps and its loss) and how it paints x from y. The
recipe (:mod:`runner.train.recipe`), evaluation and painting (:mod:`runner.science`) look a kind
up here and never branch on its name. A test keeps this registry's names equal to archspec's.
"""

from __future__ import annotations

from runner.kinds import cgan, cvae, regression  # noqa: F401  (each registers itself)
from runner.kinds.base import KINDS, LATENTS, Phase, RunnerKind

__all__ = ["KINDS", "LATENTS", "Phase", "RunnerKind"]
