"""The original's published CVAE as a checkpoint of this project (`runner import-original`).

The original repository ships its fiducial model as ``trained_models/CVAE/fiducial/``:

    model_state              the torch state dict (saved in 2019: torch's legacy, non-zip format)
    model_meta               a dill pickle: settings, architecture, the transforms' statistics
    architecture_built.txt   the printed module tree, whose names are the state dict's keys
    training_stats.txt       the training log; its last line gives the samples seen

Key layout. The original builds each network as a ``torch.nn.Sequential`` in which a table row
takes one slot for its layer, one for its BatchNorm (where it has one) and one for its
activation (ReLU included, none where the row has none); a residual block takes one slot, in
which ``res_block`` counts its rows the same way and ``activation`` follows the addition:

    q_x_in.3.weight                          recognition.A.1.conv.weight
    q_x_in.4.running_var                     recognition.A.1.bn.running_var
    p_y_z_in.13.res_block.4.running_mean     generator.B.4.1.1.bn.running_mean
    p_mu_out.1.weight                        generator.B.8.act.weight        (PReLU)

:data:`ORIGINAL_LAYOUT` says which of the original's Sequentials holds which rows of which part
of ours; the key map follows from the spec's rows, so every key and every shape is checked
against the spec, and the first one that does not fit is named. The original's ``p_y_in`` is
the identity (no module, no keys): y enters generator part B as it is, after the upsampled z,
as ``[A, y]`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

KEY_SKIPPABLE = ("num_batches_tracked",)  # BatchNorm counters of torch >= 0.4.1; 0 when a file lacks them


class OriginalModelError(Exception):
    """The original's files cannot become a checkpoint of the spec; one line naming the key or file."""


@dataclass(frozen=True)
class Segment:
    """One of the original's Sequentials and the rows of ours it holds.

    Attributes:
        original: its attribute name in the original's CVAE.
        network, part: ours.
        rows: [start, stop) of the part's table rows (stop None: to the end).
        reads: the part's inputs, in order, that the original's wiring implies.
    """

    original: str
    network: str
    part: str
    rows: tuple[int, int | None]
    reads: tuple[str, ...]


ORIGINAL_LAYOUT = (
    Segment("q_x_in", "recognition", "A", (0, None), ("x",)),
    Segment("q_y_in", "recognition", "B", (0, None), ("y",)),
    Segment("q_out", "recognition", "C", (0, None), ("A", "B")),  # q_out(cat[q_x_in(x), q_y_in(y)])
    Segment("prior_network", "prior", "A", (0, None), ("y",)),
    Segment("p_z_in", "generator", "A", (0, None), ("z",)),
    Segment("p_y_z_in", "generator", "B", (0, 8), ("A", "y")),  # p_y_z_in(cat[p_z_in(z), y])
    Segment("p_mu_out", "generator", "B", (8, None), ("A", "y")),  # ... then p_mu_out: the mean of x
)


def key_map(model: nn.Module, spec) -> list[tuple[str, str]]:
    """(original key, our key) for every tensor of the layout's parts, in order.

    Raises:
        OriginalModelError: the spec's parts or their inputs are not the original's.
    """
    pairs: list[tuple[str, str]] = []
    for seg in ORIGINAL_LAYOUT:
        _check_part(spec, seg)
        module = model.get_submodule(f"{seg.network}.{seg.part}")
        start, stop = seg.rows
        if stop is not None and len(module) < stop:
            raise OriginalModelError(
                f"{spec.name}: {seg.network}.{seg.part} has {len(module)} rows; the original's "
                f"{seg.original} holds its rows {start} to {stop - 1}"
            )
        slot = 0
        for index in range(start, len(module) if stop is None else min(stop, len(module))):
            ours = f"{seg.network}.{seg.part}.{index}"
            row = module[index]
            if isinstance(row, nn.Sequential):  # a block row: one slot per repetition
                for rep, block in enumerate(row):
                    inner = 0
                    for k in range(block.n_rows):
                        inner = _row(
                            pairs,
                            block._modules[str(k)],
                            f"{seg.original}.{slot}.res_block",
                            inner,
                            f"{ours}.{rep}.{k}",
                        )
                    pairs += [
                        (f"{seg.original}.{slot}.activation.{key}", f"{ours}.{rep}.act.{key}")
                        for key in (block.act.state_dict() if block.act is not None else {})
                    ]
                    slot += 1
            else:
                slot = _row(pairs, row, seg.original, slot, ours)
    return pairs


def _check_part(spec, seg: Segment) -> None:
    network = spec.model.networks.get(seg.network)
    part = network.parts.get(seg.part) if network is not None else None
    if part is None:
        raise OriginalModelError(
            f"{spec.name}: has no {seg.network}.{seg.part}, which holds the original's {seg.original}"
        )
    if tuple(part.inputs) != seg.reads:
        raise OriginalModelError(
            f"{spec.name}: {seg.network}.{seg.part} reads [{', '.join(part.inputs)}]; the original's "
            f"{seg.original} reads [{', '.join(seg.reads)}]"
        )


def _row(pairs: list, row: nn.Module, prefix: str, slot: int, ours: str) -> int:
    """Append the keys of one row (layer, BatchNorm, activation: a slot each); the next slot."""
    for name in ("conv", "bn", "act"):
        sub = getattr(row, name, None)
        if sub is None:
            continue
        pairs += [(f"{prefix}.{slot}.{key}", f"{ours}.{name}.{key}") for key in sub.state_dict()]
        slot += 1
    return slot


def convert(original: dict, model: nn.Module, spec) -> dict[str, torch.Tensor]:
    """The original's state dict as ``model``'s, every key and shape checked.

    Raises:
        OriginalModelError: naming the first key that is missing, misshapen, or has no place.
    """
    ours = model.state_dict()
    pairs = key_map(model, spec)
    mapped = {our for _, our in pairs}
    unmapped = [k for k in ours if k not in mapped]
    if unmapped:
        raise OriginalModelError(
            f"{spec.name}'s {unmapped[0]} has no counterpart in the original's layout "
            f"({', '.join(s.original for s in ORIGINAL_LAYOUT)})"
        )
    out = {}
    for theirs, our in pairs:
        if theirs not in original:
            if our.rsplit(".", 1)[-1] in KEY_SKIPPABLE:
                out[our] = ours[our]
                continue
            raise OriginalModelError(f"model_state lacks {theirs}, which {spec.name}'s {our} needs")
        tensor = original[theirs]
        if not isinstance(tensor, torch.Tensor):
            raise OriginalModelError(f"model_state: {theirs} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(ours[our].shape):
            raise OriginalModelError(
                f"model_state: {theirs} has shape {_shape(tensor)}; {spec.name}'s {our} needs {_shape(ours[our])}"
            )
        out[our] = tensor.detach().to(dtype=ours[our].dtype).clone()
    extra = [k for k in original if k not in {t for t, _ in pairs}]
    if extra:
        raise OriginalModelError(
            f"model_state: {extra[0]} has no place in {spec.name} (the original's layout: "
            f"{', '.join(s.original for s in ORIGINAL_LAYOUT)})"
        )
    return out


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in tensor.shape) + ")"


def load_state(path: str | Path) -> dict:
    """``model_state`` (zip or legacy format) through ``torch.load(weights_only=True)``: tensors
    and containers only, nothing unpickled as an object. Raises OriginalModelError."""
    path = Path(path)
    if not path.is_file():
        raise OriginalModelError(f"{path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not torch's, or objects weights_only refuses
        lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
        line = next((s for s in lines if s.startswith("WeightsUnpickler error")), lines[0] if lines else "")
        raise OriginalModelError(
            f"{path}: cannot be read as tensors ({type(exc).__name__}: {line.split('. Please use')[0][:200]})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise OriginalModelError(f"{path}: expected a state dict (names -> tensors), found {type(state).__name__}")
    return state


def samples_seen(log: Path) -> int | None:
    """The samples the original's training log ends at (its last line's second column), or None."""
    try:
        lines = [s.split() for s in log.read_text().splitlines() if s.strip() and not s.startswith("#")]
        return int(lines[-1][1]) if lines else None
    except (OSError, ValueError, IndexError):
        return None
