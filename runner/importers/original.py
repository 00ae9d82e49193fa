"""Import the original's fiducial CVAE folder into a run folder that paints like any other.

    imported = import_original("baryon_painter/trained_models/CVAE/fiducial", "runs/fiducial")
    # runs/fiducial/checkpoint-252928.pt, latest, spec.yaml, imported.json

The weights come from ``model_state`` (:mod:`runner.importers.original_model`), the transform's
statistics from ``model_meta`` read without running it (:mod:`runner.importers.original_meta`)
or, with ``statistics="fiducial"`` or without the file, from the published table
(:mod:`runner.data.original_stats`, docs/data.md). The spec is the paper's: a copy of
``specs/paper_cvae.yaml`` ships inside this package (``paper_cvae.yaml`` here; a test keeps the
two identical), so an installed project without the repository's ``specs/`` can import too.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import dataclass, field
from pathlib import Path

import archspec
from archspec.language.dump import to_data
from runner import checkpoint as ck
from runner.data.original_stats import original_stats, transforms_from_stats
from runner.importers.original_cgan import STRUCTURE, WEIGHTS, StructureError, differences, read_structure, spec_layers
from runner.importers.original_meta import MetaError, read_meta
from runner.importers.original_model import OriginalModelError, convert, load_state, samples_seen
from runner.runtime import write_text_atomic

PAPER_SPEC = "paper_cvae.yaml"  # the packaged copy of specs/paper_cvae.yaml
PAPER_CGAN = "paper_cgan.yaml"  # and of specs/paper_cgan.yaml
STATE, META, LOG = "model_state", "model_meta", "training_stats.txt"  # the original's file names
RECORD = "imported.json"  # what the import read, next to the checkpoint
STATISTICS = ("meta", "fiducial")
STATS_RTOL = 1e-4  # model_meta's statistics this close to the published table are the same


class OriginalImportError(Exception):
    """The import cannot go ahead; one line naming the file and what to do."""


@dataclass
class Imported:
    """What :func:`import_original` wrote and read."""

    checkpoint: Path
    samples_seen: int
    statistics: str  # where the transform's statistics came from
    notes: list[str] = field(default_factory=list)


def paper_spec(name: str = PAPER_SPEC):
    """The paper's spec (or its GAN's, ``paper_cgan.yaml``), from the copy packaged with this module."""
    with importlib.resources.as_file(importlib.resources.files(__package__) / name) as path:
        return archspec.load(path)


def cgan_folder(source: Path) -> str:
    """What a folder of the original's CGAN (``trained_models/CGAN/fiducial``) holds against
    ``specs/paper_cgan.yaml``, in one paragraph: its generator's structure, read without running
    it and compared layer by layer; its weights are not imported (not supported yet)."""
    spec = paper_spec(PAPER_CGAN)
    try:
        found = read_structure(source / STRUCTURE)
    except StructureError as exc:
        return str(exc)
    ours = spec_layers(archspec.build(spec).generator)
    problems = differences(found, ours)
    if problems:
        verdict = f"its generator differs from {spec.name}'s: " + "; ".join(problems[:5])
    else:
        verdict = f"its generator's {len(found)} layers match {spec.name}'s, row for row"
    weights = "its weights" + (f" ({WEIGHTS})" if (source / WEIGHTS).is_file() else "")
    return (
        f"{source}: the original's CGAN folder ({STRUCTURE} read without running it): {verdict}. Importing "
        f"{weights} into a run folder is not supported yet (docs/cgan.md); train specs/paper_cgan.yaml instead"
    )


def import_original(
    source: str | Path,
    out: str | Path,
    *,
    spec_path: str | Path | None = None,
    statistics: str = "meta",
    force: bool = False,
) -> Imported:
    """Turn the original's model folder into a checkpoint of the paper spec in ``out``.

    Args:
        source: the original's ``trained_models/CVAE/fiducial`` folder (model_state, model_meta).
        out: the run folder to write (new, empty, or a previous import with ``force``).
        spec_path: a spec of the paper's structure to import into (default: the paper's).
        statistics: "meta" (model_meta's, read without running it; the published table when
            the file is absent) or "fiducial" (the published table; model_meta is not opened).
        force: replace a previous import in ``out``.

    Raises:
        OriginalImportError: one line naming the file, the key or the global that stops it.
    """
    source, out = Path(source), Path(out)
    if statistics not in STATISTICS:
        raise OriginalImportError(f"statistics must be one of {', '.join(STATISTICS)}. Received: {statistics!r}")
    if not source.is_dir():
        raise OriginalImportError(f"{source}: not a folder; give the original's trained_models/CVAE/fiducial/")
    if (source / STRUCTURE).is_file() and not (source / STATE).is_file():
        raise OriginalImportError(cgan_folder(source))
    _check_out(out, force)
    spec = archspec.load(spec_path) if spec_path is not None else paper_spec()
    model = archspec.build(spec)
    try:
        weights = convert(load_state(source / STATE), model, spec)
    except OriginalModelError as exc:
        raise OriginalImportError(
            str(exc) if str(exc).startswith(str(source)) else f"{source / STATE}: {exc}"
        ) from None
    model.load_state_dict(weights)  # strict: every key of the spec, as convert promised
    notes: list[str] = []
    stats, stats_source = _statistics(source, spec, statistics, notes)
    samples = samples_seen(source / LOG)
    if samples is None:
        notes.append(f"no readable {LOG}: samples seen recorded as 0")
    record = {
        "source": str(source.resolve()),
        "files": _hashes(source),
        "statistics": stats_source,
        "spec_name": spec.name,
        "samples_seen_from": LOG if samples is not None else None,
    }
    state = {
        ck.KEY_FORMAT: ck.FORMAT,
        ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION,
        ck.KEY_MODEL: model.state_dict(),
        ck.KEY_OPTIMIZER: {},
        ck.KEY_SAMPLES: samples or 0,
        ck.KEY_STEP: 0,
        ck.KEY_SAMPLERS: {},
        ck.KEY_RNG: {},
        ck.KEY_SPEC: to_data(spec),
        ck.KEY_SPEC_HASH: archspec.spec_hash(spec),
        ck.KEY_VERSIONS: ck.versions(),
        ck.KEY_TRANSFORMS: {f: t.to_config() for f, t in transforms_from_stats(stats).items()},
        ck.KEY_IMPORTED: record,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = ck.save(out, state)
    text = archspec.dump(spec)
    head, _, body = text.partition("\n")
    write_text_atomic(out / "spec.yaml", f"{head}\n# spec_hash: {archspec.spec_hash(spec)}\n{body}")
    write_text_atomic(out / RECORD, json.dumps({**record, "checkpoint": path.name, "notes": notes}, indent=2) + "\n")
    return Imported(path, samples or 0, stats_source, notes)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OriginalImportError(f"{out}: is a file; --out names the run folder to write")
    if out.is_dir() and any(out.iterdir()):
        if not (out / RECORD).is_file():
            raise OriginalImportError(f"{out}: already holds files that no import wrote (a run?); choose another --out")
        if not force:
            raise OriginalImportError(
                f"{out}: already holds an import; pass --force to replace it, or choose another --out"
            )
        for old in ck.candidates(out):  # the previous import's checkpoint goes; nothing else is ours to remove
            old.unlink()


def _statistics(source: Path, spec, statistics: str, notes: list[str]) -> tuple[dict, str]:
    """({field: {z: {mean, var}}}, where they came from), model_meta's shapes checked against the spec."""
    published = original_stats()
    if statistics == "fiducial":
        return published, "published table (docs/data.md)"
    if not (source / META).is_file():
        notes.append(f"no {META}: using the published statistics (docs/data.md)")
        return published, "published table (docs/data.md)"
    try:
        meta = read_meta(source / META)
    except MetaError as exc:
        raise OriginalImportError(
            f"{exc}; --statistics fiducial imports with the published statistics without opening it"
        ) from None
    _check_shapes(source / META, meta.architecture, spec)
    worst = _worst_difference(meta.stats, published)
    if worst > STATS_RTOL:
        notes.append(f"{META}'s statistics differ from the published ones by up to {worst:.2%}: using {META}'s")
    return meta.stats, f"{META} (read without running it)"


def _check_shapes(path: Path, arch: dict, spec) -> None:
    shapes = spec.model.shapes
    expected = {"dim_x": tuple(shapes["x"]), "dim_z": tuple(shapes["z"])}
    for key, want in expected.items():
        if key in arch and arch[key] != want:
            raise OriginalImportError(f"{path}: its {key} is {list(arch[key])}; {spec.name}'s is {list(want)}")
    if "dim_y" in arch and arch["dim_y"][1:] != tuple(shapes["y"])[1:]:  # y's channels: + the redshift's
        raise OriginalImportError(f"{path}: its dim_y is {list(arch['dim_y'])}; {spec.name}'s y is {list(shapes['y'])}")


def _worst_difference(stats: dict, published: dict) -> float:
    """Largest relative difference at the redshifts both have (inf when one lacks a field's redshift)."""
    worst = 0.0
    for field_name, table in published.items():
        if set(stats[field_name]) != set(table):
            return float("inf")
        for z, entry in table.items():
            for key in ("mean", "var"):
                worst = max(worst, abs(stats[field_name][z][key] / entry[key] - 1))
    return worst


def _hashes(source: Path) -> dict[str, str]:
    out = {}
    for name in (STATE, META, LOG, "architecture_built.txt"):
        path = source / name
        if path.is_file():
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            out[name] = digest.hexdigest()
    return out
