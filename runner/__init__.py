"""Training and what follows it: schedule, data, the training loop, painting and evaluation.

For notebooks, three names (imported on first use, so ``import runner`` stays light)::

    import runner
    painter = runner.load_painter("runs/quickstart")        # a run folder or a checkpoint
    pressure = painter.paint(dm, z=0.5)                      # numpy in, numpy out, physical units
    spectra = runner.evaluate_maps(pressure, true, dm, box_size=100.0)

See docs/python-api.md.
"""

from __future__ import annotations

import importlib

_WHERE = {  # name -> module that defines it
    "load_painter": "runner.science.painter",
    "Painter": "runner.science.painter",
    "PaintError": "runner.science.painter",
    "PaintingWarning": "runner.science.painter",
    "evaluate_maps": "runner.science.maps",
    "MapSpectra": "runner.science.maps",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
