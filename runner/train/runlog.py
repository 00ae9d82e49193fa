"""What a run leaves in its folder besides checkpoints, and what it shows while it runs.

    runs/<name>/
      spec.yaml             the resolved spec (archspec.dump), its hash in the first lines
      env.json              python / torch / numpy versions, device, host, git commit, processes
      command.txt           every command line that ran in this folder, one a line
      metrics.jsonl         one JSON object per logged record (train and test)
      curves.png            train and test ELBO against samples seen
      checkpoint-<n>.pt     checkpoints; ``latest`` names the newest
      data.json             the identity of the data store it trains on (path, size, header hash)
      tensorboard/          events, when the tensorboard package is installed
      .lock                 held by the process training in the folder

Records are buffered as device tensors and written in one go every few seconds (and at every
checkpoint and at the end), so logging costs one device synchronisation per flush, not per step.
"""

from __future__ import annotations

import collections
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import archspec
from archspec.language.dump import dump_resolved
from runner.runtime import RunError, write_text_atomic

METRICS = "metrics.jsonl"
CURVES = "curves.png"
SPEC = "spec.yaml"
ENV = "env.json"
COMMAND = "command.txt"
DATA = "data.json"
LOCK = ".lock"
FLUSH_SECONDS = 5.0  # write buffered records at least this often


# --- the folder's static files ------------------------------------------------------------------


def write_spec(run_dir: Path, spec) -> None:
    """The resolved spec: bases of ``extends:`` applied, ``model.scale`` applied, defaults written out."""
    write_text_atomic(run_dir / SPEC, dump_resolved(spec))


def write_env(run_dir: Path, device: torch.device, world_size: int) -> None:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "archspec": archspec.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "world_size": world_size,
        "hostname": socket.gethostname(),
        "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomic(run_dir / ENV, json.dumps(env, indent=2) + "\n")


def append_command(run_dir: Path, argv: Sequence[str] | None) -> None:
    line = shlex.join(["runner", *argv[1:]] if argv else sys.argv)
    with open(run_dir / COMMAND, "a") as f:
        f.write(line + "\n")


def write_data_identity(run_dir: Path, identity: dict) -> None:
    write_text_atomic(run_dir / DATA, json.dumps(identity, indent=2) + "\n")


def read_data_identity(run_dir: Path) -> dict | None:
    """The recorded identity of the run's data store; None when the folder has none (a run
    folder from before stores were recorded). A damaged record is a :class:`RunError`."""
    path = run_dir / DATA
    if not path.is_file():
        return None
    try:
        identity = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: not readable JSON ({exc}); delete it to record the current store") from None
    if not isinstance(identity, dict) or not {"path", "size", "sha256"} <= set(identity):
        raise RunError(f"{path}: expected path, size and sha256; delete it to record the current store")
    return identity


class RunLock:
    """An exclusive lock on a run folder for as long as a process trains in it: a second
    ``runner train --resume`` on the same folder is refused instead of interleaving its writes."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: no lock
            return
        for _ in range(5):  # a holder that removed the file between our open and our lock: again
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise RunError(
                    f"{self.path.parent} is in use by another runner process (pid {holder}); "
                    "wait for it to finish or stop it, or choose another --out"
                ) from None
            except OSError:  # a filesystem without locks (some network mounts): train unlocked
                os.close(fd)
                return
            if _same_file(fd, self.path):
                break
            os.close(fd)  # we locked a file already unlinked by the holder that released it
        else:
            raise RunError(f"{self.path} keeps being replaced; is another runner starting in {self.path.parent}?")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file, then drop the lock: a run that ended leaves no .lock behind (one
        killed leaves it, and the next start takes it over, since the kill dropped the flock)."""
        if self._fd is not None:
            try:
                if _same_file(self._fd, self.path):
                    self.path.unlink()
            except OSError:  # a read-only or full disk: the file stays, harmless
                pass
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def git_commit() -> str | None:
    """The commit of the source tree archspec runs from, '+dirty' if it has changes; None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


# --- metrics -----------------------------------------------------------------------------------


class Metrics:
    """metrics.jsonl (and TensorBoard when available): buffered records, flushed as a batch.

    Args:
        run_dir: the run folder.
        terms: the names of the values of each record's terms tensor (the kind's terms,
            ``("elbo", "loglik", "kl")`` for a cvae).
        resume_at: samples seen at the checkpoint a run resumes from; records after it (written
            by the interrupted invocation after its last checkpoint) are dropped, so the file
            describes one trajectory. None: a new run.
    """

    def __init__(self, run_dir: Path, terms: Sequence[str], resume_at: int | None = None):
        self.path = run_dir / METRICS
        self.terms = tuple(terms)
        self.records: list[dict[str, Any]] = self._kept(resume_at) if resume_at is not None else []
        if resume_at is not None:  # rewrite without the dropped tail; a crash keeps the old file
            write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in self.records))
        self._file = open(self.path, "a")
        self._pending: list[tuple[dict[str, Any], torch.Tensor]] = []
        self._last_flush = time.monotonic()
        events = run_dir / "tensorboard"
        fresh = not events.exists()
        self._tb = _tensorboard(events)
        if self._tb is not None and fresh and self.records:  # tensorboard installed since the run began
            self._to_tensorboard(self.records)

    def _kept(self, resume_at: int) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a crash
                continue
            if record.get("sample", 0) <= resume_at:
                kept.append(record)
        return kept

    def add(self, record: dict[str, Any], terms: torch.Tensor) -> list[dict[str, Any]]:
        """Queue a record; ``terms`` is the tensor of the kind's terms (still on the device).
        Returns the records written if this call flushed the queue, else []."""
        self._pending.append((record, terms))
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            return self.flush()
        return []

    def flush(self) -> list[dict[str, Any]]:
        """Write the queued records (one device sync for all of them); returns them."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return []
        values = torch.stack([t for _, t in self._pending]).cpu().tolist()
        written = []
        for (record, _), row in zip(self._pending, values):
            record = {**record, **{k: _finite(v) for k, v in zip(self.terms, row)}}
            self._write(json.dumps(record) + "\n")
            written.append(record)
        self._to_tensorboard(written)
        self._write("")
        self._pending.clear()
        self.records.extend(written)
        return written

    def _to_tensorboard(self, records: Sequence[dict[str, Any]]) -> None:
        """The records as TensorBoard scalars (``<split>/<term>``, ``train/lr``), when it is installed."""
        if self._tb is None:
            return
        for record in records:
            for k in self.terms:
                if record.get(k) is not None:
                    self._tb.add_scalar(f"{record['split']}/{k}", record[k], record["sample"])
            if record["split"] == "train" and record.get("lr") is not None:
                self._tb.add_scalar("train/lr", record["lr"], record["sample"])

    def log_evaluation(self, summary: dict | None, samples: int) -> None:
        """A checkpoint's spectrum scores as TensorBoard scalars, per redshift (tiles painted
        alone): the worst |ratio − 1| below k = 2 h/Mpc, the band k 0.5–2 h/Mpc, the mean ratio."""
        if self._tb is None or not summary:
            return
        for row in ((summary.get("scores") or {}).get("tile") or {}).get("per_z", []):
            z = f"z{row['z']:g}"
            k_below = summary["scores"]["tile"].get("k_below", [])
            at = k_below.index(2.0) if 2.0 in k_below else None
            for kind in ("auto", "cross"):
                if at is not None and row[kind][at] is not None:
                    self._tb.add_scalar(f"eval/{z}/{kind}_worst_k<2", row[kind][at], samples)
                band = (row.get("bands") or {}).get(kind, {}).get("0.5-2")
                if band:
                    self._tb.add_scalar(f"eval/{z}/{kind}_band_0.5-2", band[0], samples)
            if row.get("mean_ratio") is not None:
                self._tb.add_scalar(f"eval/{z}/mean_ratio", row["mean_ratio"], samples)

    def _write(self, text: str) -> None:
        """Append ``text`` (flush the file when empty); a refused write names metrics.jsonl."""
        try:
            if text:
                self._file.write(text)
            else:
                self._file.flush()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from exc

    def sync(self) -> None:
        """Make what was written durable (before a checkpoint that follows these records)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def rewind(self, samples: int) -> None:
        """Forget the queued records and those after ``samples`` (a rollback to a checkpoint)."""
        self._pending.clear()
        self._file.close()
        self.records = [r for r in self.records if r.get("sample", 0) <= samples]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in self.records))
        self._file = open(self.path, "a")

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self.flush()
        finally:
            self._file.close()
            if self._tb is not None:
                self._tb.close()


def _finite(v: float) -> float | None:
    return v if np.isfinite(v) else None  # JSON has no NaN; null means "not a number"


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # the tensorboard package is optional
        return None
    return SummaryWriter(str(path))


# --- progress ----------------------------------------------------------------------------------


class Progress:
    """What a run shows while it trains, on stderr: a tqdm bar over samples (rate, ETA, latest
    train/test ELBO and lr) on a terminal; elsewhere (a batch job, nohup, a pipe) a "started"
    line at once, then one line every ``every_seconds`` or ``every_samples``, each with the time
    of day and the run's name (several runs may share one log), its rate and ETA over the last
    few lines (one slow interval, an evaluation, does not swing the ETA). Silent when not
    enabled (``--quiet``)."""

    WINDOW = 5  # lines the rate is averaged over

    def __init__(
        self,
        total: int,
        initial: int,
        enabled: bool,
        every_seconds: float | None = 60.0,
        every_samples: int | None = None,
        name: str = "train",
    ):
        self.bar = None
        self.lines = enabled and not sys.stderr.isatty()
        if enabled and not self.lines:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="sample",
                unit_scale=True,
                dynamic_ncols=True,
                smoothing=0.05,
                desc="train",
            )
        self._shown: dict[str, str] = {}
        self.total, self.seen, self.name = total, initial, name
        self.every_seconds, self.every_samples = every_seconds, every_samples
        self._mark = (time.monotonic(), initial)  # (time, samples) of the last line, or of the start
        self._marks = collections.deque([self._mark], maxlen=self.WINDOW + 1)  # the window of the rate
        if self.lines:
            verb = "resumed" if initial else "started"
            print(f"{_now()} {name}: {verb} at {initial:,}/{total:,} samples", file=sys.stderr, flush=True)

    def update(self, n: int) -> None:
        due = self.line_due(n)
        self.seen += n
        if self.bar is not None:
            self.bar.update(n)
        elif due:
            self._line()

    def line_due(self, n: int) -> bool:
        """True when ``update(n)`` will print a line (the caller may first :meth:`show` fresh values)."""
        if not self.lines:
            return False
        if self.every_samples is not None:
            return (self.seen + n) // self.every_samples > self._mark[1] // self.every_samples
        return time.monotonic() - self._mark[0] >= (self.every_seconds or 60.0)

    def _line(self) -> None:
        now = time.monotonic()
        self._mark = (now, self.seen)
        self._marks.append(self._mark)
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        rate = (n1 - n0) / max(t1 - t0, 1e-9)  # over the last WINDOW lines
        line = progress_line(self.seen, self.total, rate, self._shown, name=self.name)
        print(f"{_now()} {line}", file=sys.stderr, flush=True)

    def show(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        for r in records:
            if r.get("elbo") is not None:
                self._shown[r["split"]] = f"{r['elbo']:.4g}"
            elif r.get("d_loss") is not None and r.get("g_loss") is not None:  # a GAN: its two losses
                self._shown[r["split"]] = f"D {r['d_loss']:.3g} G {r['g_loss']:.3g}"
            self._shown["lr"] = f"{r['lr']:.2g}"
        if self.bar is not None:
            ordered = {k: self._shown[k] for k in ("train", "test", "lr") if k in self._shown}
            self.bar.set_postfix(ordered, refresh=False)

    def rewind(self, n: int) -> None:
        """Back to ``n`` samples (a rollback)."""
        self.seen, self._mark = n, (time.monotonic(), n)
        self._marks = collections.deque([self._mark], maxlen=self.WINDOW + 1)
        if self.bar is not None:
            self.bar.n = n
            self.bar.refresh()

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def progress_line(seen: int, total: int, rate: float, shown: dict[str, str], name: str = "train") -> str:
    """One line, e.g. 'quickstart: 12,345/150,000 samples (8.2%), 14.1 samples/s, ETA 2h43m; train
    ELBO -63.2, test ELBO -70.1, lr 0.001' (the caller puts the time of day before it)."""
    eta = f"ETA {duration((total - seen) / rate)}" if rate > 0 else "ETA ?"
    values = [  # a GAN's value is its two losses, "D 1.3 G 0.8"
        f"{name} {'' if shown[name].startswith('D ') else 'ELBO '}{shown[name]}"
        for name in ("train", "test")
        if name in shown
    ]
    values += [f"lr {shown['lr']}"] if "lr" in shown else []
    tail = f"; {', '.join(values)}" if values else ""
    return f"{name}: {seen:,}/{total:,} samples ({seen / max(total, 1):.1%}), {rate:.3g} samples/s, {eta}{tail}"


def duration(seconds: float) -> str:
    """45 -> '45s', 312 -> '5m12s', 9790 -> '2h43m'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    hours, minutes = divmod(int(round(seconds / 60)), 60)  # to the nearest minute
    return f"{hours}h{minutes:02d}m"


def is_empty(run_dir: Path) -> bool:
    """True when the folder does not exist or holds nothing but a lock file."""
    return not run_dir.exists() or not any(p.name != LOCK for p in run_dir.iterdir())


def never_checkpointed(run_dir: Path) -> bool:
    """True for a folder a run started in but never wrote a checkpoint to (killed before its
    first one, a full disk on it, a non-finite loss at step 1): nothing to resume, nothing lost
    by starting over."""
    return (
        run_dir.is_dir()
        and not is_empty(run_dir)
        and not (run_dir / "latest").exists()
        and not any(run_dir.glob("checkpoint-*.pt"))
    )


def saved_spec_hash(run_dir: Path) -> str | None:
    """The spec_hash line of the folder's spec.yaml (archspec.language.dump.dump_resolved), or None."""
    try:
        with open(run_dir / SPEC, encoding="utf-8") as f:
            head = [f.readline() for _ in range(3)]
    except (OSError, UnicodeDecodeError):
        return None
    for line in head:
        if line.startswith("# spec_hash: "):
            return line.split(":", 1)[1].strip() or None
    return None


def clear_attempt(run_dir: Path) -> None:
    """Remove what a run that never checkpointed logged (its records would be logged again)."""
    for name in (METRICS, CURVES):
        (run_dir / name).unlink(missing_ok=True)
