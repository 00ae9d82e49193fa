"""archspec: declarative architecture specs for PyTorch.

``archspec.load(path)`` reads and validates a spec; ``archspec.build(spec)`` compiles it into a
``torch.nn.Module`` (torch is imported only then).
"""

from __future__ import annotations

from archspec.checking.load import load, load_saved, loads
from archspec.language.dump import dump, spec_hash
from archspec.language.errors import Problem, SpecError
from archspec.language.spec import Spec

__all__ = ["Problem", "Spec", "SpecError", "build", "dump", "load", "load_saved", "loads", "spec_hash"]
__version__ = "0.1.0"


def build(spec: Spec, **kwargs):
    """Compile a validated spec into a ``torch.nn.Module`` (see :mod:`archspec.compile`)."""
    try:
        from archspec.compile import build as _build  # torch is imported here, never by `check`
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModuleNotFoundError(
            'archspec.build needs torch: pip install "archspec-torch[runner]" (or any torch >= 2.3)', name="torch"
        ) from None

    return _build(spec, **kwargs)
