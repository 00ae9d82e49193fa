"""The rules of resuming a run: what may differ from the run's own spec, and the command that continues it.

Pure functions of plain data, so they are tested without a run.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from archspec.presenting.diff import diff_data
from runner.runtime import RunError, child

EXTENDABLE = ("training.samples",)  # what may change when a run is resumed


STORE = "data.store"  # another store may replace the run's with --accept-data-change


def check_same_run(saved: dict, current: dict, path: Path, run_spec: Path, data_change_ok: bool = False) -> list[str]:
    """Refuse to resume a run (:class:`RunError`, naming every difference) when the spec's plain
    data differs from the checkpoint's in anything but :data:`EXTENDABLE`; returns notes on the
    allowed differences.

    ``saved`` must already be the checkpoint's spec re-validated under today's schema
    (:func:`archspec.language.evolve.upgrade`), so that a field added since it was written takes its
    default on both sides and never blocks a resume.
    """
    changes = list(diff_data(saved, current))
    store = [c for c in changes if c[0] == STORE]
    changes = [c for c in changes if c[0] != STORE]
    blocking = [c for c in changes if c[0] not in EXTENDABLE] + ([] if data_change_ok else store)
    if blocking:
        lines = "\n".join(f"  {p}: {old!r} -> {new!r}" for p, old, new in blocking)
        store_hint = (
            "; to train on another store deliberately, add --accept-data-change" if store and not data_change_ok else ""
        )
        raise RunError(
            f"cannot resume {path}: the spec differs from the run's\n{lines}\n"
            f"only {', '.join(EXTENDABLE)} may change on resume (to extend a run){store_hint}; "
            f"use the run's own spec ({run_spec}) or choose another --out"
        )
    return [
        f"runner: {p}: {old} -> {new} (--accept-data-change: the run goes on with this store)" for p, old, new in store
    ] + [
        f"runner: {p}: {old} -> {new} ({'extending' if new > old else 'shortening'} the run)" for p, old, new in changes
    ]


def resume_hint(command: Sequence[str] | None, out: Path) -> str:
    """The command that continues a run: ``command`` without --max-samples, with --resume."""
    argv = ["runner", *command[1:]] if command else ["runner", "train", "SPEC"]
    kept: list[str] = []
    for arg in argv:
        if kept and kept[-1] == "--max-samples":
            kept.pop()  # drop the option and its value
        elif not arg.startswith("--max-samples="):
            kept.append(arg)
    if not any(a == "--out" or a.startswith("--out=") for a in kept):
        kept += ["--out", str(out)]
    return shlex.join(kept + ([] if "--resume" in kept else ["--resume"]))


def identity(spec_data: dict) -> str:
    """A hash of what a run trains, blind to what a resume may change (:data:`EXTENDABLE`): two
    specs with equal identities are the same run at different lengths."""
    import hashlib
    import json

    data = json.loads(json.dumps(spec_data))
    for path in EXTENDABLE:
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:8]


def default_run_folder(spec_data: dict, root: Path = Path("runs")) -> tuple[Path, str | None]:
    """Where ``runner train`` writes without ``--out``: ``runs/<name>``, unless that folder holds
    a run of another spec; then ``runs/<name>-<identity>``, so two different specs never share a
    folder and the same spec (even extended) always finds its own. Returns (folder, a note or None)."""
    import archspec
    from archspec.language.dump import to_data

    name = str(spec_data["name"])
    plain = child(root, name)  # a spec's name is one plain folder name (its schema); checked again here
    mine = identity(spec_data)
    saved = plain / "spec.yaml"
    if not plain.exists() or not any(plain.iterdir()):
        return plain, None
    try:
        theirs = identity(to_data(archspec.load(saved)))
    except (archspec.SpecError, OSError):
        theirs = None
    if theirs == mine:
        return plain, None
    other = child(root, f"{name}-{mine}")
    return other, f"runner: {plain} holds a run of another spec; this one goes to {other} (--out chooses)"


def check_same_data(recorded: dict | None, current: dict | None, accept_change: bool = False) -> list[str]:
    """Refuse to resume (:class:`RunError`, naming both identities) when the run's data store
    is not the one it recorded (:func:`runner.data.identity.store_identity`); returns notes.

    A run folder without a record (written before stores were recorded) resumes, and records
    its store then; a store moved or copied elsewhere with the same content resumes with a
    note; ``accept_change`` (``--accept-data-change``) lets a deliberate change through.
    """
    from runner.data.identity import describe_identity, same_content

    if current is None:  # data given in memory (tests), no store file
        return []
    if recorded is None:
        return [f"runner: note: this run folder did not record its data store; recording {describe_identity(current)}"]
    if same_content(recorded, current):
        if recorded.get("path") != current.get("path"):
            return [
                f"runner: note: the data store moved: {recorded.get('path')} -> {current.get('path')} (same content)"
            ]
        return []
    both = f"\n  the run's:  {describe_identity(recorded)}\n  this one's: {describe_identity(current)}"
    if accept_change:
        return [f"runner: warning: resuming on another data store (--accept-data-change):{both}"]
    raise RunError(
        f"cannot resume: the data store differs from the one the run trained on:{both}\n"
        "train on the run's own store, or pass --accept-data-change to continue on this one deliberately"
    )
