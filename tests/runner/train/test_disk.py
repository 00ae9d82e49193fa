"""Full disks, read-only folders and size limits are one line and a non-zero exit, with the
previous checkpoint intact; old checkpoints and evaluations are pruned by the retention policy."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from runner import checkpoint as ck
from runner import faults
from runner.cli import main
from runner.data.layout import DataError
from runner.data.open import store_path
from runner.data.write import StoreWriter
from runner.train.retention import prune, retained
from tests.readme import quoted

ARGS = [
    "--set",
    "training.samples=24",
    "--set",
    "training.checkpoint.every=8",
    "--no-eval",
    "--quiet",
    "--device",
    "cpu",
]


@pytest.fixture
def fault(monkeypatch):
    def set_fault(text: str) -> None:
        faults.reset()
        monkeypatch.setenv(faults.ENV, text)

    yield set_fault
    faults.reset()


def train_cli(tiny: Path, run: Path, *extra: str) -> int:
    return main(["train", str(tiny), "--out", str(run), *ARGS, *extra])


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("runner: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_full_disk_at_a_checkpoint_is_one_line_and_the_previous_one_stays_valid(tiny, tmp_path, fault, capsys):
    run = tmp_path / "run"
    fault("write:checkpoint-*.pt:2:enospc")
    assert train_cli(tiny, run) == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot write {run / 'checkpoint-16.pt'}: No space left on device (free some space)" in line
    assert "the last checkpoint, checkpoint-8.pt, is intact" in line and line.endswith(f"--out {run} --resume")
    assert quoted("runner: error: cannot write").fullmatch(line)  # as the README quotes it
    assert (run / ck.LATEST).read_text().strip() == "checkpoint-8.pt" and ck.read(run / "checkpoint-8.pt")
    assert sorted(p.name for p in run.glob("*.pt")) == ["checkpoint-8.pt"] and not list(run.rglob(".*.tmp"))
    fault("")
    assert train_cli(tiny, run, "--resume") == 0  # once there is room, the run goes on
    assert ck.candidates(run)[0].name == "checkpoint-24.pt"


def test_a_read_only_run_folder_is_one_line(tiny, tmp_path, fault, capsys):
    fault("write:spec.yaml:1:erofs")  # the first file a run writes into its folder
    assert train_cli(tiny, tmp_path / "run") == 1
    line = one_error_line(capsys.readouterr().err)
    assert "spec.yaml: Read-only file system (the filesystem is read-only: choose a writable folder)" in line
    assert "no checkpoint was written" in line


def test_a_file_size_limit_hit_by_a_real_write_is_one_line(tiny, tmp_path):
    """ulimit -f: the kernel refuses the first checkpoint's bytes (EFBIG), no simulation involved."""
    store_path(archspec.load(tiny).data)  # the mock store exists before the limit applies
    limit = 100_000  # bytes: the run folder's small files fit, a checkpoint (~170 kB) does not
    out = subprocess.run(
        [sys.executable, "-m", "runner", "train", str(tiny), "--out", str(tmp_path / "run"), *ARGS],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    assert out.returncode == 1, out.stderr
    line = one_error_line(out.stderr)
    assert "checkpoint-8.pt: File too large" in line and "no checkpoint was written" in line
    assert not list((tmp_path / "run").rglob(".*.tmp")) and not list((tmp_path / "run").glob("*.pt"))


def unshare_available() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.slow
@pytest.mark.skipif(not unshare_available(), reason="needs unshare (user and mount namespaces) to mount a small tmpfs")
def test_a_really_full_and_then_read_only_filesystem(tiny, tmp_path):
    """A 400 kB tmpfs holds the folder and a checkpoint or two; the next one fills it; remounted
    read-only, the resume cannot even take its lock. Mounted in a private namespace."""
    store_path(archspec.load(tiny).data)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run = mnt / "run"
    train = f"{sys.executable} -m runner train {tiny} --out {run} {' '.join(ARGS)} --keep-last 0"
    script = (
        f"mount -t tmpfs -o size=400k tmpfs {mnt} && {train}; echo rc=$?; "
        f"ls {run}; echo latest=$(cat {run}/latest); "
        f"mount -o remount,ro {mnt} && {train} --resume; echo rc=$?"
    )
    out = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    first, second = out.stdout.split("rc=")[1:3]
    assert first.startswith("1") and second.startswith("1"), out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("runner: error:")]
    assert len(errors) == 2 and "Traceback" not in out.stderr, out.stderr
    # which write fills 400 kB depends on the sizes of the folder's files (this torch's checkpoint
    # format, the figures): the checkpoint `latest` names is the one said to be intact, whichever it is
    latest = re.search(r"latest=(checkpoint-\d+\.pt)", first)
    assert latest and latest[1] in first.split("latest=")[0] and ".tmp" not in first, first
    assert "No space left on device" in errors[0] and f"{latest[1]}, is intact" in errors[0]
    assert "Read-only file system" in errors[1]


def test_a_store_that_cannot_fit_is_refused_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(total=10**9, used=10**9, free=1000))
    with pytest.raises(DataError, match=r"store.h5: needs about 1,409.0 MiB, but .* has 0.0 MiB free"):
        StoreWriter(
            tmp_path / "store.h5",
            grid=1024,
            n_slices=8,
            redshifts=[0, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            provenance="test",
        )  # 2 fields x 11 z x 2 depths x 8 slices x 4 MiB, and 1 MiB
    assert list(tmp_path.iterdir()) == []


# --- retention ----------------------------------------------------------------------------------------


def expected_kept(samples: list[int], keep_last: int, every: int | None) -> set[int]:
    """The policy read literally: the newest K, and for each m >= 1 the first count >= m * every."""
    s = sorted(set(samples))
    if keep_last == 0:
        return set(s)
    kept = set(s[-keep_last:])
    if every:
        for m in range(1, s[-1] // every + 1):
            later = [x for x in s if x >= m * every]
            if later:
                kept.add(later[0])
    return kept


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(st.integers(1, 5000), min_size=1, max_size=40),
    keep_last=st.integers(0, 6),
    every=st.one_of(st.none(), st.integers(1, 2000)),
)
def test_retained_is_the_last_k_and_the_first_at_each_multiple(samples, keep_last, every):
    assert retained(samples, keep_last, every) == expected_kept(samples, keep_last, every)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 60), keep_last=st.integers(1, 4), m=st.integers(1, 5))
def test_pruning_as_a_run_goes_keeps_what_pruning_at_the_end_would(n, keep_last, m):
    """Pruned after every checkpoint (as a run does), the survivors are the policy's for the whole list:
    a milestone, once first in its interval, stays first."""
    every, alive = 24, set()
    for i in range(1, n + 1):
        alive = retained(alive | {i * every + (i % 3)}, keep_last, m * every)  # off-grid counts, as batch ends give
    assert alive == retained({i * every + (i % 3) for i in range(1, n + 1)}, keep_last, m * every)
    assert len(alive) <= keep_last + (n * every + 2) // (m * every)


def test_prune_deletes_old_checkpoints_and_their_evaluations_but_nothing_else(tmp_path):
    for s in (24, 48, 72, 96, 120):
        (tmp_path / f"checkpoint-{s}.pt").write_bytes(b"x")
        (tmp_path / "eval" / str(s)).mkdir(parents=True)
        (tmp_path / "eval" / str(s) / "summary.json").write_text("{}")
    (tmp_path / "eval" / "readme").mkdir()
    (tmp_path / "notes-24.txt").write_text("mine")
    gone = prune(tmp_path, keep_last=2, every=48, protect="checkpoint-24.pt")
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*.pt")) == [
        "checkpoint-120.pt",
        "checkpoint-24.pt",
        "checkpoint-48.pt",
        "checkpoint-96.pt",
    ]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["120", "48", "96", "readme"]
    assert {p.name for p in gone} == {"checkpoint-72.pt", "24", "72"} and (tmp_path / "notes-24.txt").exists()


def test_a_run_keeps_what_its_retention_options_say(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(tiny, run, "--set", "training.samples=40", "--keep-last", "2", "--keep-every", "2") == 0
    assert sorted(int(p.name[11:-3]) for p in run.glob("checkpoint-*.pt")) == [16, 32, 40]  # of 8, 16, 24, 32, 40
    assert '"keep_last": 2' in (run / "options.json").read_text()


def test_a_disk_error_without_a_file_name_names_the_folder():
    import errno as _errno

    from runner.runtime import disk_error_line

    exc = OSError(_errno.ENOSPC, "No space left on device")  # a write to an open file has no name
    assert disk_error_line(exc, where="runs/q") == "cannot write in runs/q: No space left on device (free some space)"
    named = OSError(_errno.ENOSPC, "No space left on device", "runs/q/checkpoint-8.pt")
    assert disk_error_line(named, where="runs/q").startswith("cannot write runs/q/checkpoint-8.pt:")
