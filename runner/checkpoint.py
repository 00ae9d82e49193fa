"""Checkpoints: named keys, atomic writes, safe reads, and the choice of which one to resume.

A run folder keeps every ``checkpoint-<samples>.pt`` it wrote and a one-line ``latest`` file
naming the newest. A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts
(the keys below), written to a temporary file in the same folder, fsynced and renamed, so a
crash leaves either the old file or the new one. Reading always uses
``torch.load(weights_only=True)``: nothing in a checkpoint is unpickled as an object.
"""

from __future__ import annotations

import io
import platform
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runner.runtime import write_atomic  # noqa: F401  (ck.write_atomic: checkpoints and ``latest``)

FORMAT = "archspec-checkpoint"
FORMAT_VERSION = 1

# The keys of a checkpoint (constants: readers and writers never spell them twice).
KEY_FORMAT = "format"  # FORMAT
KEY_FORMAT_VERSION = "format_version"  # FORMAT_VERSION
KEY_MODEL = "model"  # the model's state_dict, unwrapped from DDP / torch.compile
KEY_OPTIMIZER = "optimizer"  # the optimizer's state_dict; {phase optimizer: state_dict} for a kind with several
KEY_SAMPLES = "samples_seen"  # global training samples seen at this step boundary
KEY_STEP = "step"  # optimizer steps taken
KEY_SAMPLERS = "samplers"  # {"train": Sampler.state_dict(), "test": ...}
KEY_RNG = "rng"  # {"torch": ByteTensor, "cuda": [ByteTensor, ...], "numpy": {...}, "python": {...}}
KEY_SPEC = "spec"  # the resolved spec as plain data (archspec.language.dump.to_data)
KEY_SPEC_HASH = "spec_hash"  # archspec.spec_hash of it
KEY_VERSIONS = "versions"  # {"archspec", "torch", "numpy", "python"}
KEY_ELAPSED = "elapsed_s"  # wall seconds of training so far, over all invocations
KEY_LOG_STATE = "log_state"  # the training metrics accumulated since the last logged record
KEY_WORLD_SIZE = "world_size"  # processes of the run that wrote it (informative)
KEY_TRANSFORMS = "transforms"  # {"dm": ShiftLog.to_config(), "pressure": ...}: painting needs no store
KEY_RNG_RANKS = "rng_ranks"  # [rng_state() of each process, rank order]; absent in one-process checkpoints
KEY_LR_SCALE = "lr_scale"  # factor on the schedule's lr after rollbacks (runner.train.guard); absent: 1
KEY_IMPORTED = "imported"  # {"source", "files": {name: sha256}, ...}: a model trained elsewhere
# (runner import-original): no optimizer, sampler or RNG state; it paints and evaluates, never resumes

REQUIRED_KEYS = (
    KEY_FORMAT,
    KEY_FORMAT_VERSION,
    KEY_MODEL,
    KEY_OPTIMIZER,
    KEY_SAMPLES,
    KEY_STEP,
    KEY_SAMPLERS,
    KEY_RNG,
    KEY_SPEC,
    KEY_SPEC_HASH,
    KEY_VERSIONS,
)
LATEST = "latest"  # the pointer file's name
_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")


class CheckpointError(Exception):
    """A checkpoint cannot be used; the message names the file and why."""


def checkpoint_name(samples: int) -> str:
    return f"checkpoint-{samples}.pt"


# --- writing -----------------------------------------------------------------------------------


def save(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` as ``checkpoint-<samples>.pt`` and point ``latest`` at it."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    path = run_dir / checkpoint_name(int(state[KEY_SAMPLES]))
    # Serialised in memory first: torch.save writing straight to a full disk fails with an
    # opaque RuntimeError from its zip writer, a plain write with the OSError that says why.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, lambda f: f.write(buffer.getbuffer()))
    write_atomic(run_dir / LATEST, lambda f: f.write(path.name.encode() + b"\n"))
    return path


def versions() -> dict[str, str]:
    import archspec

    return {
        "archspec": str(archspec.__version__),
        "torch": str(torch.__version__),  # plain str, not TorchVersion
        "numpy": str(np.__version__),
        "python": platform.python_version(),
    }


# --- reading -----------------------------------------------------------------------------------


def read(path: Path) -> dict[str, Any]:
    """Load and check a checkpoint. Raises :class:`CheckpointError` naming the file and the reason."""
    damaged = _damaged_member(path)
    if damaged:
        raise CheckpointError(
            f"{path}: damaged on disk: the stored checksum (CRC-32) of {damaged} does not match "
            "its bytes (a flipped bit or a bad copy)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except Exception as exc:  # truncated, not a zip archive, pickled objects, ...
        raise CheckpointError(f"{path}: unreadable ({_reason(exc, path)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict of named entries, found {type(state).__name__}")
    if state.get(KEY_FORMAT) != FORMAT:
        raise CheckpointError(f"{path}: not an archspec checkpoint (format {state.get(KEY_FORMAT)!r})")
    if state.get(KEY_FORMAT_VERSION) != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state.get(KEY_FORMAT_VERSION)} cannot be read by "
            f"this version (format {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    bad = nonfinite_entries(state[KEY_MODEL]) if isinstance(state[KEY_MODEL], dict) else []
    if bad:  # never written by this version (runner.train.guard); an older run's NaN
        raise CheckpointError(
            f"{path}: non-finite weights (NaN or inf) in {', '.join(bad[:3])}"
            + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        )
    return state


def _damaged_member(path: Path) -> str | None:
    """The first member of the checkpoint's zip container whose CRC-32 does not match, or None
    (also for a file that is no zip archive: torch.load then says what it is). torch.load itself
    never checks the CRCs, so a flipped bit in a weight would be used silently."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError):
        return None
    if bad is None:
        return None
    return bad.split("/", 1)[-1] if "/" in bad else bad


def nonfinite_entries(tensors: dict[str, Any]) -> list[str]:
    """The names of the floating-point tensors holding a NaN or inf (one device synchronisation)."""
    named = [(k, t) for k, t in tensors.items() if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not named:
        return []
    flags = [torch.isfinite(t).all() for _, t in named]
    ok = torch.stack([f.to(flags[0].device) for f in flags]).tolist()
    return [k for (k, _), good in zip(named, ok) if not good]


def _reason(exc: BaseException, path: Path | None = None) -> str:
    """One line of why torch.load failed (for weights_only, the line that names the object)."""
    if path is not None and Path(path).is_file() and not zipfile.is_zipfile(path):
        return "not a torch checkpoint: no complete zip archive (cut short, or another kind of file)"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # the line that names the object; never torch's advice to retry with weights_only=False,
    # which would run the payload (cut at 200 characters it read as a plain suggestion)
    named = [
        s for s in lines if s.startswith("WeightsUnpickler error") or "GLOBAL" in s or "global" in s.split(" ")[:4]
    ]
    line = named[0] if named else next((s for s in lines if "weights_only" not in s), lines[0] if lines else "")
    if named or "weights_only" in line:
        line = line.split(". Please use")[0].split(" Re-running")[0]
        line += " (a pickled object, not plain data: never loaded; see SECURITY.md)"
    if len(line) > 200:
        line = line[:197] + "..."
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def candidates(run_dir: Path) -> list[Path]:
    """Checkpoints of a run folder, best first: the one ``latest`` names, then by samples, newest first."""
    found = sorted(
        (p for p in run_dir.glob("checkpoint-*.pt") if _NAME.match(p.name)),
        key=lambda p: int(_NAME.match(p.name).group(1)),
        reverse=True,
    )
    pointer = run_dir / LATEST
    if pointer.is_file():
        named = run_dir / pointer.read_text().strip()
        if named in found:
            found.remove(named)
            found.insert(0, named)
    return found


def read_latest(run_dir: Path, warn=print, use: str = "resuming from") -> tuple[dict[str, Any], Path]:
    """The newest checkpoint of ``run_dir`` that reads cleanly; a bad one is reported and skipped
    (and kept on disk). ``use`` says what the fallback is for ("resuming from", "painting with").
    Raises :class:`CheckpointError` when none is usable."""
    problems = []
    for path in candidates(run_dir):
        try:
            state = read(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            warn(f"runner: warning: {exc}; trying the previous checkpoint")
            continue
        if problems:
            warn(f"runner: {use} {path.name} instead ({int(state[KEY_SAMPLES]):,} samples)")
        return state, path
    if problems:
        raise CheckpointError(f"no usable checkpoint in {run_dir}: " + "; ".join(problems))
    raise CheckpointError(f"no checkpoint in {run_dir}")


def optimizer_states(states: dict[str, dict]) -> dict:
    """What :data:`KEY_OPTIMIZER` holds: the one optimizer's state_dict (the format every
    one-optimizer kind has always written), or {name: state_dict} for a kind with several."""
    return next(iter(states.values())) if len(states) == 1 else dict(states)


def optimizer_state(state: dict[str, Any], name: str, n_optimizers: int) -> dict:
    """The state_dict of optimizer ``name`` in a checkpoint (see :func:`optimizer_states`)."""
    saved = state[KEY_OPTIMIZER]
    return saved if n_optimizers == 1 else saved[name]


# --- RNG states as plain data --------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Every RNG the run draws from, as tensors, numbers and lists (safe for weights_only)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA only where both have it)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under DDP's ``.module`` and torch.compile's ``._orig_mod`` wrappers."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model
