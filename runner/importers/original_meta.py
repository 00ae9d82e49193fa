"""Reading the original's ``model_meta`` without running any of it.

The original saved its metadata with dill: a dict of plain settings, the architecture as plain
lists and dicts, and ``transform`` / ``inverse_transform`` as closures — compiled code — whose
cells hold the statistics {field: {z: {"mean", "var"}}} (numpy scalars). Unpickling it the usual
way builds that code and imports the original's package; a tampered file could run anything.
This reader builds only data:

- a global may name numpy's array and scalar reconstruction, a numpy dtype or an OrderedDict:
  the real objects, which build values and run no code of the file's choosing;
- dill's helpers (``dill._dill.*``) and every name of the original's package
  (``baryon_painter.*``) become inert placeholders: never imported, never called; they only
  keep the arguments they are given (so compiled code stays bytes);
- dill's ``_import_module`` / ``_get_attr`` pair, by which dill reaches numpy's scalar
  reconstruction, resolves only to the numpy names above;
- any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) stops the read
  before it is looked up: the file is refused, naming the global.

The statistics and the architecture are then found in the tree by their shape.
"""

from __future__ import annotations

import io
import math
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's _reconstruct, wherever this numpy keeps it
_SCALAR = np.float64(0).__reduce__()[0]  # numpy's scalar()
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
REAL = {  # (module, name) -> the object a global may resolve to
    **{(m, "_reconstruct"): _RECONSTRUCT for m in _NUMPY_MODULES[1:]},
    **{(m, "scalar"): _SCALAR for m in _NUMPY_MODULES[1:]},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): OrderedDict,
}
INERT_MODULES = ("dill._dill", "dill.dill", "baryon_painter")  # names in these become placeholders
MAX_DEPTH = 200  # of the search through the unpickled tree


class MetaError(Exception):
    """model_meta cannot be read, or is refused; the message is one line and names the file."""


class Refused(MetaError):
    """model_meta names a global outside what this reader allows; nothing of it was run."""


class Inert:
    """A placeholder for a function of dill or of the original: calling it only records the call."""

    __slots__ = ("name", "args", "state", "items")

    def __init__(self, name: str, args: tuple = ()):
        self.name, self.args, self.state, self.items = name, args, None, []

    def __call__(self, *args, **kwargs) -> Inert:
        return Inert(self.name, args + tuple(kwargs.values()))

    def __setstate__(self, state) -> None:  # pickle's BUILD
        self.state = state

    def __setitem__(self, key, value) -> None:  # SETITEMS on a placeholder
        self.items.append((key, value))

    def append(self, value) -> None:  # APPENDS on a placeholder
        self.items.append(value)

    def extend(self, values) -> None:
        self.items.extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.name}>"


@dataclass(frozen=True)
class _Module:
    """What dill's ``_import_module`` gives for a numpy module: a name to look attributes up in."""

    name: str


def _import_module(name) -> object:
    if name in _NUMPY_MODULES:
        return _Module(name)
    if isinstance(name, str) and name.split(".")[0] in ("dill", "baryon_painter"):
        return Inert(name)
    raise Refused(f"it imports the module {name!r}")


def _get_attr(owner, name) -> object:
    if isinstance(owner, Inert):
        return Inert(f"{owner.name}.{name}")
    if isinstance(owner, _Module) and (owner.name, name) in REAL:
        return REAL[(owner.name, name)]
    where = owner.name if isinstance(owner, _Module) else type(owner).__name__
    raise Refused(f"it looks up {where}.{name}")


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in REAL:
            return REAL[(module, name)]
        if module in ("dill._dill", "dill.dill") and name == "_import_module":
            return _import_module
        if module in ("dill._dill", "dill.dill") and name == "_get_attr":
            return _get_attr
        if module in INERT_MODULES or module.startswith("baryon_painter."):
            return Inert(f"{module}.{name}")
        raise Refused(f"it names {module}.{name}")

    def persistent_load(self, pid):
        raise Refused("it holds persistent references")


@dataclass(frozen=True)
class OriginalMeta:
    """What model_meta holds that this project uses.

    Attributes:
        stats: {field: {z: {"mean": m, "var": v}}} for dm and pressure.
        architecture: {"dim_x", "dim_y", "dim_z"} -> shape tuples, where the file has them.
        settings: the plain top-level settings (L, n_grid, tile_size, input_field, ...).
    """

    stats: dict
    architecture: dict
    settings: dict


def read_meta(path: str | Path) -> OriginalMeta:
    """Read ``model_meta`` as described above. Raises :class:`Refused` or :class:`MetaError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MetaError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        tree = _Reader(io.BytesIO(data)).load()
    except Refused as exc:
        raise Refused(
            f"{path}: refused: {exc}, which is neither numpy's array reconstruction, a plain "
            f"container, nor one of the original's function wrappers; nothing in it was run"
        ) from None
    except Exception as exc:  # truncated, not a pickle, a structure the placeholders cannot take
        raise MetaError(f"{path}: not a readable pickle ({type(exc).__name__}: {str(exc)[:160]})") from None
    stats = _find(tree, _is_stats)
    if stats is None:
        raise MetaError(
            f"{path}: holds no statistics {{dm, pressure}} -> {{z: {{mean, var}}}} (is it the CVAE's model_meta?)"
        )
    arch = _find(tree, lambda d: isinstance(d, dict) and {"dim_x", "dim_y", "dim_z"} <= set(d))
    settings = (
        {k: v for k, v in tree.items() if isinstance(v, (int, float, str, bool, list))}
        if isinstance(tree, dict)
        else {}
    )
    return OriginalMeta(_clean_stats(path, stats), _clean_arch(arch), settings)


def _find(root, match):
    """The first node of the tree (depth first, in the file's order) that ``match`` accepts."""
    stack, seen = [(root, 0)], set()
    while stack:
        node, depth = stack.pop()
        if id(node) in seen or depth > MAX_DEPTH:
            continue
        seen.add(id(node))
        if match(node):
            return node
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, (list, tuple, set, frozenset)):
            children = list(node)
        elif isinstance(node, Inert):
            children = [*node.args, node.state, *node.items]
        else:
            continue
        stack.extend((child, depth + 1) for child in reversed(children))
    return None


def _is_stats(node) -> bool:
    if not isinstance(node, dict) or not {"dm", "pressure"} <= set(node):
        return False
    return all(
        isinstance(node[f], dict)
        and node[f]
        and all(isinstance(v, dict) and {"mean", "var"} <= set(v) for v in node[f].values())
        for f in ("dm", "pressure")
    )


def _clean_stats(path: Path, stats: dict) -> dict:
    out = {}
    for field in ("dm", "pressure"):
        out[field] = {}
        for z, entry in stats[field].items():
            try:
                z, mean, var = float(z), _number(entry["mean"]), _number(entry["var"])
            except (TypeError, ValueError):
                raise MetaError(f"{path}: its {field} statistics are not numbers at z = {z!r}") from None
            if not (math.isfinite(z) and math.isfinite(mean) and var > 0 and math.isfinite(var)):
                raise MetaError(f"{path}: its {field} statistics at z = {z:g} are not usable (mean {mean}, var {var})")
            out[field][z] = {"mean": mean, "var": var}
    return out


def _number(value) -> float:
    array = np.asarray(value)
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(value)
    return float(array.reshape(()))


def _clean_arch(arch: dict | None) -> dict:
    if arch is None:
        return {}
    out = {}
    for key in ("dim_x", "dim_y", "dim_z"):
        try:
            out[key] = tuple(int(v) for v in arch[key])
        except (TypeError, ValueError):
            continue
    return out
