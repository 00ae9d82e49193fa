"""Sweeps: the configurations of a sweep, their folder names, and running them one by one.

    configs = configurations(["specs/quickstart.yaml"], {"training.lr.start": ["1e-3", "2e-3"]})
    run_sweep(configs, Path("runs/sweep-quickstart"), train_args=["--max-samples", "2000"])

A configuration is a spec file and a list of ``--set`` overrides. Its folder is named after what
distinguishes it from the sweep's other configurations (``training.lr.start=0.002``, or the
variant's name), so a rerun of the same command finds every folder again: each run resumes
where it stopped (``runner train --resume`` on a folder with nothing in it starts it), a
finished one says "nothing to do". ``sweep.json`` in the sweep folder lists the configurations
and how each ended.

Runs go one after another on one device; with several GPUs, one run per GPU at a time
(``CUDA_VISIBLE_DEVICES`` set per run). Each run is its own ``runner train`` process, so a failed
run cannot take the sweep down with it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from runner.runtime import RunError, child, write_text_atomic

MANIFEST = "sweep.json"
MAX_NAME = 120  # characters of a run folder's name; longer names end in a hash
_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+@-]")  # anything else becomes '_': no '/', no '..' path steps


@dataclass(frozen=True)
class Config:
    """One run of a sweep: a spec file, its overrides, the run folder's name."""

    spec: str
    overrides: tuple[str, ...]
    name: str


@dataclass
class Outcome:
    name: str
    spec: str
    overrides: list[str]
    folder: str
    status: str = "pending"  # pending, running, done, stopped (at --max-samples), interrupted, failed
    exit_code: int | None = None
    seconds: float | None = None
    message: str = field(default="")


def split_values(text: str) -> list[str]:
    """``1e-3,2e-3`` -> ['1e-3', '2e-3'], splitting on commas outside brackets, braces and quotes,
    so that ``[[0,4],[8,8]],[[0,8]]`` is two YAML values."""
    values, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    if depth != 0 or quote or any(v == "" for v in values):
        raise ValueError(f"expected comma-separated values, e.g. 1e-3,2e-3 or [[0,4]],[[0,8]]. Received: {text!r}")
    return values


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["training.lr.start=1e-3,2e-3", "seed=0,1"]`` -> {key: [values]}; a key given twice is an error."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=V1,V2,... such as training.lr.start=1e-3,2e-3. Received: {item!r}")
        if key.strip() in grid:
            raise ValueError(f"{key.strip()} is swept twice; give all its values in one --set")
        grid[key.strip()] = split_values(values)
    return grid


def configurations(specs: Sequence[str], grid: dict[str, list[str]]) -> list[Config]:
    """Every spec × every combination of the grid's values, each named after what differs."""
    if not specs:
        raise ValueError("a sweep needs at least one spec")
    combos = list(itertools.product(*grid.values())) if grid else [()]
    keys = list(grid)
    varied = [k for k in keys if len(grid[k]) > 1]
    stems = _spec_labels(specs)
    configs = []
    for spec, stem in zip(specs, stems):
        for combo in combos:
            overrides = tuple(f"{k}={v}" for k, v in zip(keys, combo))
            parts = ([stem] if len(specs) > 1 else []) + [f"{k}={v}" for k, v in zip(keys, combo) if k in varied]
            configs.append(Config(spec, overrides, folder_name(parts or [stem])))
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(
            "two configurations would share a folder: " + ", ".join(sorted({n for n in names if names.count(n) > 1}))
        )
    return configs


def _spec_labels(specs: Sequence[str]) -> list[str]:
    """The file stems, or the parent/stem where stems repeat."""
    stems = [Path(s).stem for s in specs]
    return [f"{Path(s).parent.name}-{Path(s).stem}" if stems.count(Path(s).stem) > 1 else Path(s).stem for s in specs]


def folder_name(parts: Sequence[str]) -> str:
    """A safe folder name from ``key=value`` parts: unsafe characters become '_', a long name is
    cut and ends in a hash of the whole, and it can never be '.', '..' or leave its folder."""
    text = ",".join(parts)
    name = _UNSAFE.sub("_", text).strip(".") or "run"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        name = name[: MAX_NAME - 11] + "-" + digest
    return name


# --- running --------------------------------------------------------------------------------------


def changing(spec_path: str, overrides: Sequence[str]) -> list[str]:
    """The overrides that change the spec (what ``runner train`` would not warn about): one that
    changes nothing — a swept value equal to the spec's own, ``--set training.beta=1,0.1`` on a
    spec of beta 1 — is left out of that run's command, which trains the same without it. A spec
    that does not load keeps every override, for ``runner train`` to judge."""
    from archspec.checking.overrides import load_with_warnings
    from archspec.language.errors import SpecError

    try:
        _, unused = load_with_warnings(spec_path, overrides)
    except (OSError, SpecError):
        return list(overrides)
    dropped = {w.file.removeprefix("--set ") for w in unused}
    return [o for o in overrides if o not in dropped]


def train_command(config: Config, folder: Path, train_args: Sequence[str]) -> list[str]:
    overrides = [a for o in changing(config.spec, config.overrides) for a in ("--set", o)]
    return [
        sys.executable,
        "-m",
        "runner",
        "train",
        config.spec,
        "--out",
        str(folder),
        "--resume",
        *overrides,
        *train_args,
    ]


def run_sweep(
    configs: Sequence[Config],
    out: Path,
    train_args: Sequence[str] = (),
    gpus: int = 0,
    say: Callable[[str], None] = print,
    launch=subprocess.Popen,
) -> list[Outcome]:
    """Run every configuration into ``out/<name>``, resuming each; returns how each ended.

    Args:
        configs: from :func:`configurations`.
        out: the sweep folder (created); ``sweep.json`` records the outcomes as they come.
        train_args: passed to every ``runner train`` (run options, ``--max-samples``).
        gpus: run this many at a time, one per GPU (0 or 1: one after another).
        say: where progress lines go.
        launch: ``subprocess.Popen`` (tests may pass a stand-in).
    """
    if out.exists() and not out.is_dir():
        raise RunError(f"{out} is a file, not a sweep folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    outcomes = {c.name: Outcome(c.name, c.spec, list(c.overrides), str(child(out, c.name))) for c in configs}
    _write_manifest(out, outcomes)
    pending = list(configs)
    running: dict[int, tuple[Config, subprocess.Popen, float]] = {}
    slots = max(1, gpus)
    try:
        while pending or running:
            while pending and len(running) < slots:
                config = pending.pop(0)
                slot = next(i for i in range(slots) if i not in running)
                env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": str(slot)} if gpus > 1 else {}))
                say(f"runner: sweep: {config.name} ({len(configs) - len(pending)}/{len(configs)})")
                running[slot] = (
                    config,
                    launch(train_command(config, child(out, config.name), train_args), env=env),
                    time.monotonic(),
                )
                outcomes[config.name].status = "running"
                _write_manifest(out, outcomes)
            slot, (config, proc, start) = _wait_any(running)
            del running[slot]
            _record(outcomes[config.name], proc.returncode, time.monotonic() - start)
            _write_manifest(out, outcomes)
            if proc.returncode in (130, 143):  # Ctrl-C or SIGTERM: the run checkpointed; stop the sweep
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        for config, proc, start in running.values():
            proc.wait()  # the signal reached the runs too: each writes its checkpoint
            _record(outcomes[config.name], proc.returncode, time.monotonic() - start)
        _write_manifest(out, outcomes)
        raise
    return list(outcomes.values())


def _wait_any(running: dict) -> tuple[int, tuple]:
    while True:
        for slot, entry in running.items():
            if entry[1].poll() is not None:
                return slot, entry
        time.sleep(0.2)


def _record(outcome: Outcome, code: int | None, seconds: float) -> None:
    outcome.exit_code, outcome.seconds = code, round(seconds, 1)
    outcome.status = {0: "done", 130: "interrupted", 143: "interrupted"}.get(code, "failed")
    if code == 0 and not finished(Path(outcome.folder)):
        outcome.status = "stopped"  # at --max-samples: the same command continues it


def finished(run: Path) -> bool:
    """Has the run in ``run`` trained to its spec's end (not only to a --max-samples stop)?"""
    import archspec
    from runner import checkpoint as ck
    from runner.train.schedule import Schedule

    try:
        spec = archspec.load(run / "spec.yaml")
        latest = (run / ck.LATEST).read_text().strip()
        seen = int(latest.removeprefix("checkpoint-").removesuffix(".pt"))
    except (OSError, ValueError, archspec.SpecError):
        return False
    return seen >= Schedule.from_training(spec.training).end()


def _write_manifest(out: Path, outcomes: dict[str, Outcome]) -> None:
    write_text_atomic(out / MANIFEST, json.dumps({"runs": [asdict(o) for o in outcomes.values()]}, indent=1) + "\n")


def sweep_runs(folder: Path) -> list[Path]:
    """The run folders of a sweep folder, in its manifest's order (or sorted, without one)."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            names = [r["name"] for r in json.loads(manifest.read_text())["runs"]]
            return [folder / n for n in names if (folder / n).is_dir()]
        except (ValueError, KeyError, TypeError):
            pass
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / "spec.yaml").is_file())
