"""This project's distribution name, and the other distribution that provides ``import archspec``.

The import package is ``archspec``, but that name on the package index belongs to Spack's
CPU-microarchitecture library, a dependency of conda: a distribution of the same name installed
into a conda base environment would uninstall it and break conda. So this project is
distributed as ``archspec-torch``, and both command lines say once, on stderr, when a
distribution named ``archspec`` is installed beside it (then ``import archspec`` may load either
one's files): Spack's, or this project installed under its old name.
"""

from __future__ import annotations

import functools

DISTRIBUTION = "archspec-torch"
OURS = "Declarative architecture specs for PyTorch"  # the start of this project's summary, old name or new


@functools.cache
def clash_warning() -> str | None:
    """One line for stderr when a distribution named ``archspec`` is installed, else None.
    (A look-up by name: half a millisecond, where scanning every distribution takes a tenth of a
    second on each command.)"""
    import importlib.metadata as md

    try:
        summary = md.distribution("archspec").metadata["Summary"] or ""
    except md.PackageNotFoundError:
        return None
    if summary.startswith(OURS):
        return (
            f"archspec: warning: this project is also installed under its old distribution name `archspec`; "
            f"remove that one (pip uninstall archspec) so that `import archspec` is {DISTRIBUTION}'s"
        )
    return (
        f"archspec: warning: the distribution `archspec` (Spack's CPU-microarchitecture library, which conda "
        f"needs) also provides the `archspec` module here, and `import archspec` may load either one's files; "
        f"install {DISTRIBUTION} in a virtual environment: python -m venv .venv && . .venv/bin/activate"
    )
