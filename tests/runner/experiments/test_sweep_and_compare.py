"""Sweeps and comparisons: a grid of two values runs into one folder per value, is interrupted,
resumes where it stopped when the same command runs again, and `runner compare` writes the table
and the figure from the folders alone."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.experiments.sweep import configurations, folder_name, parse_grid, split_values

ROOT = Path(__file__).resolve().parents[3]


def test_values_split_on_commas_outside_brackets_and_quotes():
    assert split_values("1e-3,2e-3") == ["1e-3", "2e-3"]
    assert split_values("[[0,4],[8,8]],[[0,8]]") == ["[[0,4],[8,8]]", "[[0,8]]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    for bad in ("1,", "[1,2", "'a"):
        with pytest.raises(ValueError):
            split_values(bad)


def test_configurations_are_the_grid_times_the_specs_named_after_what_differs():
    grid = parse_grid(["training.lr.start=1e-3,2e-3", "training.seed=0,1", "training.beta=1"])
    configs = configurations(["a/q.yaml"], grid)
    assert len(configs) == 4
    assert configs[0].name == "training.lr.start=1e-3,training.seed=0"  # beta does not vary: not in the name
    assert configs[0].overrides == ("training.lr.start=1e-3", "training.seed=0", "training.beta=1")
    two = configurations(["a/q.yaml", "b/free.yaml"], {})
    assert [c.name for c in two] == ["q", "free"]
    with pytest.raises(ValueError, match="swept twice"):
        parse_grid(["a=1,2", "a=3"])


def test_folder_names_never_leave_the_sweep_folder():
    for parts in (["../../etc"], ["a/b=1"], [".."], ["x=" + "9" * 300]):
        name = folder_name(parts)
        assert "/" not in name and name not in (".", "..") and not name.startswith(".") and len(name) <= 120


def _sweep(tiny: Path, out: Path, **kw) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "runner",
        "sweep",
        str(tiny),
        "--set",
        "training.lr.start=1e-3,3e-3",
        "--out",
        str(out),
        "--gpus",
        "0",
        "--",
        "--no-eval",
    ]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ), **kw)


@pytest.mark.slow
def test_a_sweep_is_interrupted_resumed_and_compared(tiny, tmp_path):
    out = tmp_path / "sweep"
    first = out / "training.lr.start=1e-3"
    proc = _sweep(tiny, out, start_new_session=True)
    deadline = time.monotonic() + 1200
    while not (first / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the sweep and its run alike
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err and "Traceback" not in err
    statuses = {r["name"]: r["status"] for r in json.loads((out / "sweep.json").read_text())["runs"]}
    assert statuses == {"training.lr.start=1e-3": "interrupted", "training.lr.start=3e-3": "pending"}
    interrupted_at = int((first / "latest").read_text().strip().removeprefix("checkpoint-").removesuffix(".pt"))

    proc = _sweep(tiny, out)
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, err
    assert f"resuming {first} at {interrupted_at:,} samples" in err
    statuses = {r["name"]: r["status"] for r in json.loads((out / "sweep.json").read_text())["runs"]}
    assert set(statuses.values()) == {"done"}

    done = subprocess.run(
        [sys.executable, "-m", "runner", "compare", str(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.splitlines()
    assert (
        table[0].startswith("| run | kind | precision | parameters")
        and len([line for line in table if line.startswith("| training.lr.start=")])
        == 2  # its rows (notes name runs too)
    )
    rows = list(csv.DictReader((out / "compare" / "table.csv").open()))
    assert [r["run"] for r in rows] == ["training.lr.start=1e-3", "training.lr.start=3e-3"]
    assert all(float(r["test_elbo"]) < 0 and int(r["samples"]) > 0 for r in rows)
    assert (out / "compare" / "compare.png").stat().st_size > 10_000


def test_compare_refuses_a_folder_that_is_neither_run_nor_sweep(tmp_path):
    (tmp_path / "empty").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "runner", "compare", str(tmp_path / "empty"), str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_sweep_refuses_options_it_controls_before_running_anything(tiny, tmp_path):
    for extra in (
        ["--", "--resume"],
        ["--", "--out", "x"],
        ["--", "--no-such-option"],
        ["--set", "training.lr.start=1,"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "runner", "sweep", str(tiny), "--out", str(tmp_path / "s"), *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, (extra, done.stderr)
    assert not (tmp_path / "s").exists()


def test_compare_says_each_runs_precision_and_counts_samples_to_its_last_checkpoint(tmp_path):
    import archspec
    from runner.experiments.compare import markdown, summarise
    from tests.spec_texts import TINY_SPEC

    runs = []
    for name, precision in (("a", "fp32"), ("b", "bf16")):
        run = tmp_path / name
        run.mkdir()
        (run / "spec.yaml").write_text(archspec.dump(archspec.loads(TINY_SPEC)))
        (run / "options.json").write_text(json.dumps({"precision": "auto", "resolved": {"precision": precision}}))
        # the last record is a log step before the end; the checkpoint at 160 is the run's end
        (run / "metrics.jsonl").write_text(
            json.dumps({"sample": 144, "step": 20, "split": "test", "elbo": -5.0, "kl": 0.1}) + "\n"
        )
        (run / "latest").write_text("checkpoint-160.pt\n")
        runs.append(summarise(run))
    assert [(r["row"]["precision"], r["row"]["samples"]) for r in runs] == [("fp32", 160), ("bf16", 160)]
    table = markdown([r["row"] for r in runs])
    assert "| a | cvae | fp32 |" in table and "different precisions (bf16, fp32)" in table
    assert "different precisions" not in markdown([runs[0]["row"], runs[0]["row"]])


def test_compare_notes_runs_logged_before_the_likelihood_carried_its_constant(tmp_path):
    import archspec
    from runner.experiments.compare import markdown, summarise
    from tests.spec_texts import TINY_SPEC

    rows = []
    for name, extra in (("old", {}), ("new", {"loglik_constant": -0.918939})):
        run = tmp_path / name
        run.mkdir()
        (run / "spec.yaml").write_text(archspec.dump(archspec.loads(TINY_SPEC)))
        (run / "options.json").write_text(json.dumps({"device": "cpu"}))  # before the fast path
        record = {"sample": 8, "step": 2, "split": "test", "elbo": -5.0, "loglik": -4.9, "kl": 0.1, **extra}
        (run / "metrics.jsonl").write_text(json.dumps(record) + "\n")
        rows.append(summarise(run)["row"])
    assert [r["elbo_without_constant"] for r in rows] == [True, False] and rows[0]["precision"] == "fp32"
    assert "Note: old logged ELBOs without the original's constant" in markdown(rows)
    assert "without the original's constant" not in markdown(rows[1:])


def test_compare_draws_each_run_whose_model_differs_from_the_first(tmp_path):
    from archspec import load
    from runner.experiments.compare import architecture_diffs

    root = Path(__file__).resolve().parents[3]
    base, variant = load(root / "specs/quickstart.yaml"), load(root / "specs/variants/quickstart/free_latent.yaml")
    reseeded = load(root / "specs/quickstart.yaml", ["training.seed=7"])  # another run, the same model
    runs = [{"row": {"run": n}, "spec": s} for n, s in (("a", base), ("b", variant), ("c", reseeded))]
    text = architecture_diffs(runs)
    assert text.count("```mermaid") == 1 and "## b against a" in text and "## c against" not in text
    (changed,) = [line for line in text.splitlines() if line.strip().startswith("class ") and "changed" in line]
    assert sorted(changed.split()[1].split(",")) == ["prior_A_2", "recognition_C_0"]
    assert architecture_diffs(runs[:1] + runs[2:]) == ""


def test_a_single_value_applies_to_every_run_and_a_value_equal_to_the_base_is_not_passed():
    from runner.experiments.sweep import train_command

    quick, variant = str(ROOT / "specs/quickstart.yaml"), str(ROOT / "specs/variants/quickstart/free_latent.yaml")
    configs = configurations([quick, variant], parse_grid(["training.samples=1500", "training.beta=1,0.1"]))
    assert [c.name for c in configs] == [
        "quickstart,training.beta=1",
        "quickstart,training.beta=0.1",
        "free_latent,training.beta=1",
        "free_latent,training.beta=0.1",
    ]  # the single value is in no name
    assert all("training.samples=1500" in c.overrides for c in configs)
    commands = [train_command(c, Path("out") / c.name, []) for c in configs]
    sets = [[cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"] for cmd in commands]
    # the quickstart's beta is 1 (specs/quickstart.yaml): beta=1 is not passed, 0.1 is; 1500 always
    assert sets == [["training.samples=1500"], ["training.samples=1500", "training.beta=0.1"]] * 2


def test_a_test_elbo_still_climbing_is_flagged_and_a_level_one_is_not():
    """Issue 21 item 9: a run whose curve still climbs is named, with noise that a level curve has too."""
    import numpy as np

    from runner.experiments.compare import still_rising

    rng = np.random.default_rng(0)
    noise = 0.05 * rng.standard_normal(40)
    level = list(-3.0 + noise)
    climbing = list(-15.0 + 0.4 * np.arange(40) + noise)  # -15 -> -7, the 1,500-sample run
    assert still_rising(climbing) and not still_rising(level)
    assert not still_rising(climbing[:15])  # fewer than two windows: no verdict


def _fake_run(root, name, spec_text, *, samples, elbos, tiles=None):
    import archspec

    run = root / name
    run.mkdir()
    (run / "spec.yaml").write_text(archspec.dump(archspec.loads(spec_text)))
    records = [
        {"sample": samples * (i + 1) // len(elbos), "step": i, "split": "test", "elbo": e, "kl": 0.1}
        for i, e in enumerate(elbos)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if tiles is not None:
        (run / "eval" / str(samples)).mkdir(parents=True)
        (run / "eval" / str(samples) / "summary.json").write_text(
            json.dumps({"tiles_per_redshift": tiles, "per_redshift": []})
        )
    return run


def test_compare_notes_samples_beta_and_quick_evaluations_that_make_numbers_less_comparable(tmp_path):
    """Issue 21 items 9 and 11."""
    from runner.experiments.compare import markdown, summarise
    from tests.spec_texts import TINY_SPEC

    beta = TINY_SPEC.replace("  seed: 3\n", "  seed: 3\n  beta: 0.1\n")
    runs = [
        summarise(_fake_run(tmp_path, "a", TINY_SPEC, samples=480, elbos=[-3.0] * 30, tiles=8)),
        summarise(_fake_run(tmp_path, "b", beta, samples=960, elbos=[-9.0 + 0.2 * i for i in range(30)], tiles=64)),
    ]
    table = markdown([r["row"] for r in runs])
    assert "different numbers of samples (480, 960)" in table
    assert "different β (0.1, 1)" in table
    assert "the test ELBO of b had not levelled off" in table and "of a," not in table
    assert "evaluations of 8 test samples per redshift" in table
    assert "| 8 |" in table and "| 64 |" in table  # the column says which evaluation each row's scores are from
    quiet = markdown([runs[0]["row"]])
    assert "different" not in quiet and "levelled" not in quiet


def test_seeds_of_a_sweep_are_named_by_their_configuration():
    from runner.experiments.compare import group_name

    def run(name):
        return {"row": {"run": name}}

    assert group_name([run("lr=1,training.seed=0"), run("lr=1,training.seed=1")]) == "lr=1"
    assert group_name([run("a"), run("b")]) == "a (+1 seeds)"
    assert group_name([run("training.seed=0"), run("training.seed=1")]) == "training.seed=0 (+1 seeds)"
    assert group_name([run("only")]) == "only"


def test_verdicts_judge_both_bands_against_the_seed_spread_by_hand():
    """Three seeds a configuration: at k 2-5 the second differs by 0.28 with a spread of 0.01
    (28x: beyond noise); at k 0.5-2 by -0.05 with a spread of 0.05 (1.0x: within noise)."""
    from runner.experiments.compare import verdicts

    def run(group, seed, low, high):
        bands = {"auto k 0.5-2": [low, low - 0.1, low + 0.1, 0.0], "auto k 2-5": [high, high - 0.1, high + 0.1, 2.0]}
        return {
            "group": group,
            "seed": seed,
            "path": f"{group}-{seed}",
            "row": {"run": f"{group}-{seed}"},
            "bands": bands,
        }

    base = [run("a", s, low, high) for s, low, high in ((0, -0.10, -0.65), (1, -0.20, -0.64), (2, -0.15, -0.66))]
    other = [run("b", s, low, high) for s, low, high in ((0, -0.20, -0.37), (1, -0.25, -0.36), (2, -0.15, -0.38))]
    lines = verdicts(base + other)
    assert (
        "a-0 (+2 seeds) (seeds 0, 1, 2): band k 2-5 h/Mpc, ratio − 1 mean ± sd over seeds: auto -0.650 ± 0.010" in lines
    )
    assert "b-0 (+2 seeds) vs a-0 (+2 seeds), auto k 2-5: +0.280, 28.0x the seed spread (0.010): beyond noise" in lines
    assert "b-0 (+2 seeds) vs a-0 (+2 seeds), auto k 0.5-2: -0.050, 1.0x the seed spread (0.050): within noise" in lines
