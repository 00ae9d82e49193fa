"""`runner data info` on a file `runner paint` wrote: provenance, units and maps, without torch."""

from __future__ import annotations

import subprocess
import sys

import h5py

from runner.cli import main
from tests.runner.science.test_painter import _density, _paint, _write_plain, run_dir  # noqa: F401 - a fixture


def test_data_info_reads_a_painted_file(run_dir, tmp_path, capsys):  # noqa: F811
    """Issue 21 item 13: `runner data info` on what `runner paint` wrote: provenance, units, maps."""
    _write_plain(tmp_path / "dm.h5", _density(5, (40, 40)), 0.5)
    assert _paint([run_dir, "--input", tmp_path / "dm.h5", "--output", tmp_path / "p.h5"], capsys)[0] == 0
    assert main(["data", "info", str(tmp_path / "p.h5")]) == 0
    out = capsys.readouterr().out
    with h5py.File(tmp_path / "p.h5") as f:
        values, units = f["pressure"][()], f.attrs["units"]
    assert "pressure painted by `runner paint`" in out and f"units: {units}" in out
    assert "calibration: none" in out and str(run_dir / "checkpoint-123.pt") in out
    row = next(line for line in out.splitlines() if line.strip().startswith("/pressure"))
    assert row.split()[1:] == [
        "(40,",
        "40)",
        "0.5",
        f"{values.mean():.4g}",
        f"{values.min():.4g}",
        f"{values.max():.4g}",
    ]


def test_data_info_of_a_painted_file_does_not_import_torch(run_dir, tmp_path, capsys):  # noqa: F811
    _write_plain(tmp_path / "dm.h5", _density(6, (40, 40)), 0.0)
    assert _paint([run_dir, "--input", tmp_path / "dm.h5", "--output", tmp_path / "p.h5"], capsys)[0] == 0
    code = "import sys; from runner.cli import main; main(['data', 'info', sys.argv[1]]); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "p.h5")], capture_output=True, text=True, check=True
    )
    assert "pressure painted by" in out.stdout and out.stdout.strip().endswith("False")
