"""``model.scale: {width, depth}``: the same model, wider or narrower, deeper or shallower.

    model:
      scale: {width: 0.5, depth: 0.5}      # or: --set model.scale.width=0.5

Applied to the validated spec before its shapes are checked; the resolved spec (what ``archspec
show`` prints, what is hashed and saved with a run) has the scaled numbers written out and no
``scale`` left, so a saved spec is never scaled twice. The rules, with no rounding beyond them:

- width: every hidden channel count c becomes max(1, ⌊c·width + ½⌋) (rounded half up, never to 0).
  Ultralytics rounds scaled channels up to a multiple of 8; nothing here does: 24 at width 0.5
  is 12, 3 at width 0.5 is 2.
- Channels the model kind's contract fixes never scale: the model tensors' channels (x, y, z in
  ``model.shapes``) and the out-channels of the last row of each network's output part (for a
  cvae the 2·C_z of the recognition and prior networks and x's C of the generator). A row's
  in-channels follow what actually arrives: a part reading ``[A, y]`` takes A's scaled channels
  plus y's two. An in-count that did not match its input before scaling is left as written, for
  the checker to report.
- A block is shared by the rows that apply it, so its table scales as written (in and out alike);
  a block placed last in a network's output part scales too, and the contract check says so.
- depth: every block row's ``repeat`` r becomes max(1, ⌊r·depth + ½⌋). Layer rows never repeat,
  so depth leaves them alone.

The multipliers are taken as the decimals written (0.1 is 1/10 exactly), so a product that lands
on .5 rounds up however the float would have rounded.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from pydantic import ValidationError

from archspec.language.errors import Problem
from archspec.language.kinds import KINDS
from archspec.language.spec import Spec

_HALF = Fraction(1, 2)


def times(count: int, factor: Fraction) -> int:
    """``count`` scaled by ``factor``: rounded half up, at least 1."""
    return max(1, math.floor(count * factor + _HALF))


def exact(value: float) -> Fraction:
    """The decimal a multiplier was written as: 0.1 -> 1/10, not the float's binary neighbour."""
    return Fraction(repr(float(value)))


def apply(spec: Spec) -> Spec:
    """The spec with ``model.scale`` applied and removed (the spec itself when it has none)."""
    if spec.model.scale is None:
        return spec
    width, depth = exact(spec.model.scale.width), exact(spec.model.scale.depth)
    data = spec.model_dump(mode="json", by_alias=True)
    model = data["model"]
    model["scale"] = None
    for block in model["blocks"].values():
        for row in block["table"]:
            _scale_row(row, width, depth)
            if "channels" in row and row["channels"]["in"] is not None:
                row["channels"]["in"] = times(row["channels"]["in"], width)
    for name in model["networks"]:
        _scale_network(spec, name, model["networks"][name], width, depth)
    return Spec.model_validate(data)


def scaled(spec: Spec) -> tuple[Spec | None, list[Problem]]:
    """:func:`apply`, or the problem when the scaled numbers leave the language's ranges."""
    try:
        return apply(spec), []
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(map(str, err["loc"]))
        return None, [
            Problem(
                "scale",
                ("model", "scale"),
                f"the scaled model is out of range at {where}: {err['msg']}",
                "choose a smaller width or depth",
            )
        ]


def _scale_row(row: dict, width: Fraction, depth: Fraction, keep_out: bool = False) -> None:
    if "block" in row:
        row["repeat"] = times(row["repeat"], depth)
    elif not keep_out:
        row["channels"]["out"] = times(row["channels"]["out"], width)


def _scale_network(spec: Spec, name: str, network: dict, width: Fraction, depth: Fraction) -> None:
    """Scale one network's parts, in order, carrying (written, scaled) channels from row to row."""
    fixed = _contract_fixes_channels(spec, name)
    output_part = spec.model.networks[name].output_part
    channels: dict[str, tuple[int, int]] = {t: (shape[0], shape[0]) for t, shape in spec.model.shapes.items()}
    for part_name, part in spec.model.networks[name].parts.items():
        rows = network[part_name]["table"]
        sources = [channels.get(s) for s in part.inputs]
        incoming = None if None in sources else (sum(s[0] for s in sources), sum(s[1] for s in sources))  # type: ignore[index]
        for i, row in enumerate(rows):
            keep = fixed and part_name == output_part and i == len(rows) - 1
            if "block" in row:
                _scale_row(row, width, depth)
                written = _block_out(spec, row["block"])
                incoming = None if written is None else (written, times(written, width))
                continue
            c = row["channels"]
            if c["in"] is not None and incoming is not None and c["in"] == incoming[0]:
                c["in"] = incoming[1]  # what arrives now; a mismatch stays as written, for the checker
            written = c["out"]
            _scale_row(row, width, depth, keep_out=keep)
            incoming = (written, c["out"])
        if incoming is not None:
            channels[part_name] = incoming


def _contract_fixes_channels(spec: Spec, network: str) -> bool:
    """Does the kind's contract say how many channels ``network`` gives?"""
    role = KINDS.get(spec.model.kind).role(network) if spec.model.kind in KINDS else None
    output = role.output(spec.model.shapes) if role is not None else None
    return output is not None and output[0] is not None


def _block_out(spec: Spec, name: str, depth: int = 0) -> int | None:
    """The out-channels a block gives, as written (None: unknown, or nested beyond reason)."""
    block = spec.model.blocks.get(name)
    if block is None or depth > 32:
        return None
    last: Any = block.table[-1]
    if hasattr(last, "block"):
        return _block_out(spec, last.block, depth + 1)
    return last.channels.out
