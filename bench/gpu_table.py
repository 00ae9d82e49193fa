"""The one table of ``bench/gpu.sh``, from the JSON files its steps leave in one folder.

    python bench/gpu_table.py OUT_DIR

Reads fastpath.json (bench/fastpath.py), model.json and runner.json (bench/overhead.py),
e2e.json (bench/e2e.py) and tests.txt (pytest's last line); a missing file is a step that did
not finish, shown as such.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FASTPATH_ROWS = (
    ("fp32", "fp32 eager"),
    ("tf32+cl", "tf32 + channels-last"),
    ("bf16+cl", "bf16 autocast + channels-last"),
    ("bf16+cl+compile+graphs", "fast path: bf16 + channels-last + compile + CUDA graphs"),
)


def read(folder: Path, name: str) -> dict | None:
    path = folder / name
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def rows(folder: Path) -> list[tuple[str, str, str]]:
    """(what, measured, goal) rows."""
    out: list[tuple[str, str, str]] = []
    fast = read(folder, "fastpath.json")
    specs = (fast or {}).get("rates", {})
    rates = next(iter(specs.values())) if specs else {"24": {}, "96": {}}  # the one spec measured
    for batch, by_config in rates.items():
        for config, words in FASTPATH_ROWS:
            value = by_config.get(config)
            out.append(
                (f"training step, batch {batch}: {words}", f"{value:,.1f} samples/s" if value else "not measured", "")
            )
    model = read(folder, "model.json")
    out.append(
        (
            "archspec.build / hand-written CVAE, fast path, batch 24",
            f"{model['model']['ratio']:.3f}" if model else "not measured",
            ">= 0.98",
        )
    )
    runner = read(folder, "runner.json")
    out.append(
        (
            "runner train step over the bare step (test ELBO of 24 every 72)",
            f"{runner['runner']['overhead']:+.1%}" if runner else "not measured",
            "<= 5%",
        )
    )
    e2e = read(folder, "e2e.json")
    if e2e:
        steady = e2e.get("steady_samples_per_s")
        out.append(
            (
                f"runner train end to end, {e2e['samples']:,} samples, batch 24: wall, all included",
                f"{e2e['wall_samples_per_s']:,.0f} samples/s ({e2e['wall_s']:.0f} s)",
                ">= 1,000; goal 2,000",
            )
        )
        out.append(
            (
                "  the same, steady (the records' clock, after a quarter of the samples)",
                f"{steady:,.0f} samples/s" if steady else "too short",
                ">= 1,000; goal 2,000",
            )
        )
    else:
        out.append(("runner train end to end, batch 24", "not measured", ">= 1,000; goal 2,000"))
    tests = folder / "tests.txt"
    out.append(
        (
            "tests on the GPU: bf16 vs fp32 ELBO, device lr, compile fallback",
            tests.read_text().strip().splitlines()[-1] if tests.is_file() and tests.read_text().strip() else "not run",
            "passed",
        )
    )
    return out


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:])[0])
    table = rows(folder)
    width = max(len(r[0]) for r in table)
    measured = max(len(r[1]) for r in table)
    for what, value, goal in table:
        print(f"{what:<{width}}  {value:>{measured}}  {goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
