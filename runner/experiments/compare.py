"""Runs side by side: what each trained, how long, how well, from what its folder holds.

    rows = [summarise(run) for run in expand(["runs/a", "runs/sweep-lr"])]
    write_comparison(rows, Path("runs/compare"))   # table.md, table.csv, table.json, compare.png

Everything is read from the run folders (``spec.yaml``, ``metrics.jsonl``, ``latest``,
``eval/<samples>/summary.json``); nothing is trained or painted again, so comparing is quick and
works on a folder copied from another machine. Parameters come from the static shape flow of the
saved spec (``archspec``), the figure of merit from the last evaluation at each checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.experiments.sweep import MANIFEST, sweep_runs
from runner.runtime import RunError, write_text_atomic

K_BELOW = 2.0  # h/Mpc: the table's spectrum columns are the worst bin below this
JUDGED = ("0.5-2", "2-5")  # h/Mpc: the band scores runs are judged by (runner.science.uncertainty.BANDS)
LAST = 10  # the final ELBOs are medians of the last this many records of each split
COLUMNS = (
    "run",
    "kind",
    "precision",
    "parameters",
    "samples",
    "hours",
    "train_elbo",
    "test_elbo",
    "kl",
    "auto_worst",
    "cross_worst",
    "eval_samples",
    "eval_tiles",
)
FULL_TILES = 64  # test samples per redshift of a full evaluation at least (runner evaluate paints 64 to 512)


def expand(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders from run folders and sweep folders (a sweep stands for its runs)."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunError(f"{path}: no such run or sweep folder")
        if (path / "spec.yaml").is_file():
            runs.append(path)
        elif (path / MANIFEST).is_file() or any((p / "spec.yaml").is_file() for p in path.iterdir() if p.is_dir()):
            runs.extend(sweep_runs(path))
        else:
            raise RunError(f"{path}: neither a run folder (no spec.yaml) nor a sweep folder (no {MANIFEST}, no runs)")
    if not runs:
        raise RunError("nothing to compare: the sweep folders hold no runs yet")
    return runs


def summarise(run: Path) -> dict[str, Any]:
    """One run as a table row, plus the curves and spectra the figure draws."""
    import archspec
    from archspec.checking.shapes import flow

    try:
        spec = archspec.load(run / "spec.yaml")
    except (archspec.SpecError, FileNotFoundError) as exc:
        raise RunError(f"{run}: its spec.yaml cannot be read ({str(exc).splitlines()[0]})") from None
    records = _records(run / "metrics.jsonl")
    evaluation = _latest_evaluation(run)
    row: dict[str, Any] = {
        "run": run.name,
        "kind": spec.model.kind,
        "precision": _precision(run),
        "parameters": flow(spec).params,
        "samples": max([r["sample"] for r in records] + [_checkpoint_samples(run)]),
        "hours": round(max((r.get("time", 0.0) for r in records), default=0.0) / 3600, 4),
        "train_elbo": _final(records, "train", "elbo"),
        "test_elbo": _final(records, "test", "elbo"),
        "kl": _final(records, "test", "kl"),
        "eval_samples": evaluation[0] if evaluation else None,
        "eval_tiles": evaluation[1].get("tiles_per_redshift") if evaluation else None,
    }
    spectra = _spectra(evaluation[1]) if evaluation else {}
    for kind in ("auto", "cross"):
        worst = [abs(v) for z in spectra.values() for k, v in zip(z["k"], z[kind]) if k < K_BELOW and v is not None]
        row[f"{kind}_worst"] = round(max(worst), 4) if worst else None
    row["elbo_without_constant"] = _without_constant(records)
    bands = _bands(evaluation[1]) if evaluation else {}
    curve = [(r["sample"], r["elbo"]) for r in records if r["split"] == "test" and r.get("elbo") is not None]
    row["beta"] = float(spec.training.beta)
    row["rising"] = still_rising([e for _, e in curve])
    return {
        "row": row,
        "curve": curve,
        "kl_curve": [(r["sample"], r["kl"]) for r in records if r["split"] == "test" and r.get("kl") is not None],
        "spectra": spectra,
        "path": str(run),
        "bands": bands,
        "group": _without_seed(spec),
        "seed": spec.training.seed,
        "spec": spec,
    }


def _bands(summary: dict) -> dict:
    """{"auto k 0.5-2": [ratio - 1, lo, hi, z], ...}: each judged band's worst redshift with its
    bootstrap interval, auto and cross (evaluations from before the bootstrap have none: {})."""
    worst = ((summary.get("scores") or {}).get("tile") or {}).get("bands") or {}
    return {
        f"{kind} k {band}": worst[kind][band]
        for band in JUDGED
        for kind in ("auto", "cross")
        if band in worst.get(kind, {})
    }


def _without_seed(spec) -> str:
    """What a run is apart from its seed: runs that share it are one configuration's seeds."""
    import hashlib

    from archspec.language.dump import to_data

    data = to_data(spec)
    data.get("training", {}).pop("seed", None)
    data.pop("name", None)
    data.pop("description", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def seed_groups(runs: Sequence[dict]) -> list[list[dict]]:
    """Runs grouped by configuration (spec without seed and name), in the order first seen."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(r.get("group", r["path"]), []).append(r)
    return list(groups.values())


def still_rising(elbos: Sequence[float], window: int = LAST) -> bool:
    """Has the test ELBO not levelled off? The median of the last ``window`` records exceeds the
    median of the ``window`` before by more than three standard errors of that difference (the
    records' scatter from their median absolute deviations, pooled over both windows; a median's
    standard error is 1.2533 σ/√n): the run's final number is still moving, and a longer run
    would change it. Three, not two: a level curve of 0.5-nat scatter must not be flagged."""
    if len(elbos) < 2 * window:
        return False
    last, before = list(elbos[-window:]), list(elbos[-2 * window : -window])

    def mad(xs: list[float]) -> float:
        m = statistics.median(xs)
        return 1.4826 * statistics.median(abs(x - m) for x in xs)

    sigma = math.sqrt((mad(last) ** 2 + mad(before) ** 2) / 2)
    se_difference = 1.2533 * sigma * math.sqrt(2 / window)
    return statistics.median(last) - statistics.median(before) > 3 * se_difference


def group_name(group: Sequence[dict]) -> str:
    """A configuration's name: its runs' common name without the seed (a sweep's folder names
    say ``training.seed=S``), else the first run's name and how many seeds there are."""
    names = [r["row"]["run"] for r in group]
    stripped = {",".join(p for p in n.split(",") if not p.startswith("training.seed=")) for n in names}
    if len(group) > 1 and len(stripped) == 1 and next(iter(stripped)) and next(iter(stripped)) not in names:
        return next(iter(stripped))
    return names[0] if len(group) == 1 else f"{names[0]} (+{len(group) - 1} seeds)"


def verdicts(runs: Sequence[dict], factor: float = 2.0) -> list[str]:
    """Lines that say, for each configuration against the first, whether their difference in each
    band score (k 0.5-2 and 2-5 h/Mpc, auto and cross) is beyond noise: with seeds, more than
    ``factor`` times the larger seed spread; with one run each, whether the bootstrap intervals of
    the evaluations are apart."""
    from runner.science.uncertainty import distinguishable, seed_spread

    groups = seed_groups(runs)
    names_of = [f"{kind} k {band}" for band in JUDGED for kind in ("auto", "cross")]
    lines = []
    for g in groups:
        if len(g) > 1:
            for band in JUDGED:
                cells = []
                for kind in ("auto", "cross"):
                    key = f"{kind} k {band}"
                    m, sd, n = seed_spread([r["bands"][key][0] for r in g if key in r.get("bands", {})])
                    if n:
                        cells.append(f"{kind} {m:+.3f} ± {sd:.3f}")
                if cells:
                    seeds = ", ".join(str(r.get("seed", "?")) for r in g)
                    lines.append(
                        f"{group_name(g)} (seeds {seeds}): band k {band} h/Mpc, "
                        f"ratio − 1 mean ± sd over seeds: " + ", ".join(cells)
                    )
    base = groups[0] if groups else []
    for g in groups[1:]:
        for key in names_of:
            a = [r["bands"][key] for r in base if key in r.get("bands", {})]
            b = [r["bands"][key] for r in g if key in r.get("bands", {})]
            if not a or not b:
                continue
            names = f"{group_name(g)} vs {group_name(base)}"
            ma, sa, na = seed_spread([v[0] for v in a])
            mb, sb, nb = seed_spread([v[0] for v in b])
            diff = mb - ma
            if na > 1 and nb > 1:
                spread = max(sa, sb)
                beyond = distinguishable([v[0] for v in a], [v[0] for v in b], factor)
                lines.append(
                    f"{names}, {key}: {diff:+.3f}, {abs(diff) / spread if spread else float('inf'):.1f}x "
                    f"the seed spread ({spread:.3f}): " + ("beyond noise" if beyond else "within noise")
                )
            else:
                (_, lo_a, hi_a, _), (_, lo_b, hi_b, _) = a[0], b[0]
                apart = hi_b < lo_a or hi_a < lo_b
                lines.append(
                    f"{names}, {key}: {diff:+.3f}; 68% bootstrap intervals over test samples "
                    f"[{lo_b:+.3f}, {hi_b:+.3f}] and [{lo_a:+.3f}, {hi_a:+.3f}] "
                    + ("are apart" if apart else "overlap: not told apart by this evaluation")
                    + " (one seed each: run seeds to see the training's own spread)"
                )
    return lines


def _precision(run: Path) -> str | None:
    """The arithmetic the run trained in (``options.json``'s resolved fast path): bf16 and fp32
    runs of one spec are different experiments, and the table must say which is which."""
    try:
        options = json.loads((run / "options.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None  # no run options recorded (an imported model, a folder from before them)
    resolved = options.get("resolved") if isinstance(options, dict) else None
    if not isinstance(resolved, dict):
        return "fp32"  # run options from before the fast path: every run then trained in fp32
    return resolved.get("precision")


def _without_constant(records: list[dict]) -> bool:
    """Were some of the run's log-likelihoods logged before they carried the original's constant
    (records written before 2026-11-29: 0.919 nats per channel of x higher than today's)?"""
    from runner.kinds.likelihood import CONSTANT_KEY

    logged = [r for r in records if r.get("loglik") is not None]
    return bool(logged) and not all(CONSTANT_KEY in r for r in logged)


def _checkpoint_samples(run: Path) -> int:
    """Samples of the checkpoint ``latest`` names (the last metrics record can be a log step short of it)."""
    try:
        name = (run / "latest").read_text().strip()
    except OSError:
        return 0
    stem = name.removeprefix("checkpoint-").removesuffix(".pt")
    return int(stem) if stem.isdigit() else 0


def _records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
    return out


def _final(records: list[dict], split: str, term: str) -> float | None:
    values = [r[term] for r in records if r.get("split") == split and r.get(term) is not None]
    return round(statistics.median(values[-LAST:]), 4) if values else None


def _latest_evaluation(run: Path) -> tuple[int, dict] | None:
    """(samples, summary) of the run's newest ``eval/<samples>/summary.json``."""
    found = []
    for path in (run / "eval").glob("*/summary.json") if (run / "eval").is_dir() else []:
        if path.parent.name.isdigit():
            found.append((int(path.parent.name), path))
    for samples, path in sorted(found, reverse=True):
        try:
            return samples, json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    return None


def _spectra(summary: dict) -> dict[float, dict]:
    """z -> {k, auto, cross}: the ratio of the mean spectra − 1 per k bin."""
    out = {}
    for entry in summary.get("per_redshift", []):
        try:
            out[float(entry["z"])] = {
                "k": entry["k"],
                "auto": entry["auto"]["ratio_of_means"],
                "cross": entry["cross"]["ratio_of_means"],
                **{
                    f"{kind}_{end}": entry[kind][f"ci_{end}"]
                    for kind in ("auto", "cross")
                    for end in ("lo", "hi")
                    if f"ci_{end}" in entry[kind]
                },
            }
        except (KeyError, TypeError, ValueError):
            continue
    return out


# --- output -------------------------------------------------------------------------------------


def markdown(rows: Sequence[dict], notes: Sequence[str] = ()) -> str:
    head = [
        "run",
        "kind",
        "precision",
        "parameters",
        "samples",
        "hours",
        "train ELBO",
        "test ELBO",
        "KL",
        f"auto worst (k<{K_BELOW:g})",
        f"cross worst (k<{K_BELOW:g})",
        "eval at",
        "eval tiles/z",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c], c) for c in COLUMNS) + " |")
    lines.append("")
    lines.append(
        f"ELBOs: median of the last {LAST} records (nats per sample; for a regression, its log-likelihood; "
        "a GAN has none: –). "
        f"auto/cross worst: max over redshifts and k < {K_BELOW:g} h/Mpc of |P_painted/P_true − 1| "
        f"(ratio of the mean spectra over test tiles) at the run's latest evaluation."
    )
    old = [str(row["run"]) for row in rows if row.get("elbo_without_constant")]
    if old and len(old) < len(rows):
        lines.append(
            f"Note: {', '.join(old)} logged ELBOs without the original's constant (½ ln 2π per channel of x, "
            f"0.919 nats for one): they read that much higher than the others' (runs from before 2026-11-29)."
        )
    precisions = sorted({str(row["precision"]) for row in rows if row.get("precision")})
    if len(precisions) > 1:
        lines.append(
            f"Note: these runs trained in different precisions ({', '.join(precisions)}); a difference "
            f"between them may be the arithmetic's, not the spec's (--precision fixes it)."
        )
    lines += [f"Note: {n}" for n in comparability_notes(rows)]
    if notes:
        lines.append("")
        lines.append("Beyond noise? (the band score of each configuration's latest evaluation, tiles painted alone)")
        lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def comparability_notes(rows: Sequence[dict]) -> list[str]:
    """What makes the runs' numbers less comparable than they look: a test ELBO still rising, a
    different number of samples or β, an evaluation of fewer test tiles than a full one."""
    out = []
    rising = [str(r["run"]) for r in rows if r.get("rising")]
    if rising:
        out.append(
            f"the test ELBO of {', '.join(rising)} had not levelled off (the median of its last {LAST} records "
            f"above that of the {LAST} before by more than three standard errors): a longer run would change it"
        )
    samples = sorted({int(r["samples"]) for r in rows if r.get("samples")})
    if len(samples) > 1:
        out.append(f"the runs trained different numbers of samples ({', '.join(f'{n:,}' for n in samples)})")
    betas = sorted({r["beta"] for r in rows if r.get("beta") is not None})
    if len(betas) > 1:
        out.append(
            f"the runs trained with different β ({', '.join(f'{b:g}' for b in betas)}); the ELBOs shown are "
            "loglik − KL whatever β was, so they compare"
        )
    few = sorted({int(r["eval_tiles"]) for r in rows if r.get("eval_tiles") and r["eval_tiles"] < FULL_TILES})
    if few:
        out.append(
            f"spectrum scores from evaluations of {', '.join(map(str, few))} test samples per redshift (the "
            f"training's quick evaluation): their noise is large; `runner evaluate RUN --force` scores every "
            f"independent test tile (at least {FULL_TILES}), and this table then reads those"
        )
    return out


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "–"
    if column == "parameters" or column in ("samples", "eval_samples", "eval_tiles"):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def csv_text(rows: Sequence[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS + ("elbo_without_constant", "beta", "rising"))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_comparison(runs: Sequence[dict], out: Path, *, figure: bool = True) -> dict[str, Path]:
    """table.md, table.csv, table.json and (unless ``figure`` is off) compare.png into ``out``."""
    if out.exists() and not out.is_dir():
        raise RunError(f"{out} is a file; --out names the folder the table and figure go into")
    out.mkdir(parents=True, exist_ok=True)
    rows = [r["row"] for r in runs]
    paths = {"md": out / "table.md", "csv": out / "table.csv", "json": out / "table.json"}
    write_text_atomic(paths["md"], markdown(rows, verdicts(runs)))
    write_text_atomic(paths["csv"], csv_text(rows))
    write_text_atomic(
        paths["json"],
        json.dumps(
            {"k_below": K_BELOW, "runs": [{**r["row"], "path": r["path"]} for r in runs]},
            indent=1,
            allow_nan=False,
            default=_json,
        )
        + "\n",
    )
    pictures = architecture_diffs(runs)
    if pictures:
        paths["architecture"] = out / "architecture.md"
        write_text_atomic(paths["architecture"], pictures)
    if figure:
        from runner.science.figures import plot_comparison

        paths["png"] = plot_comparison(
            out / "compare.png",
            {r["row"]["run"]: r["curve"] for r in runs},
            {r["row"]["run"]: r["spectra"] for r in runs},
            {r["row"]["run"]: r.get("kl_curve", []) for r in runs},
            groups={r["row"]["run"]: group_name(g) for g in seed_groups(runs) for r in g},
        )
    return paths


def architecture_diffs(runs: Sequence[dict]) -> str:
    """Markdown with a Mermaid picture of each run whose model differs from the first run's, its
    changed rows highlighted (archspec draw RUN --diff FIRST); "" when every model is the same."""
    from archspec.language.dump import to_data
    from archspec.presenting.draw import drawing, mermaid

    specs = [(r["row"]["run"], r.get("spec")) for r in runs if r.get("spec") is not None]
    if len(specs) < 2:
        return ""
    (first, base), sections = specs[0], []
    for name, spec in specs[1:]:
        if to_data(spec)["model"] != to_data(base)["model"]:
            picture = mermaid(drawing(spec, against=base))
            sections.append(
                f"## {name} against {first}\n\nChanged rows are orange, with {first}'s values as "
                f"'was'.\n\n```mermaid\n{picture}```\n"
            )
    return "".join(["# The architectures compared\n\n", *sections]) if sections else ""


def _json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(type(value).__name__)
