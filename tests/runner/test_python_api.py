"""The Python API a notebook uses: docs/python-api.md's example runs as written (on a tiny run
trained in its place), `import runner` stays light, and evaluate_maps gives the spectra a hand
calculation predicts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from runner.cli import main
from tests.spec_texts import TINY_SPEC

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python-api.md"


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder where runs/quickstart is a tiny run trained by `runner train` (the quickstart's
    two minutes stand in for ten seconds), with its own mock cache."""
    root = tmp_path_factory.mktemp("api")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine: two threads spin-wait for each other
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSPEC_CACHE", str(root / "cache"))
        (root / "tiny.yaml").write_text(TINY_SPEC)
        assert (
            main(
                [
                    "train",
                    str(root / "tiny.yaml"),
                    "--out",
                    str(root / "runs" / "quickstart"),
                    "--quiet",
                    "--no-eval",
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
        yield root
    torch.set_num_threads(before)


@pytest.mark.filterwarnings("ignore:rescaled")  # the example's last line says it warns
def test_the_docs_example_runs_and_paints_a_700_pixel_map(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("ARCHSPEC_CACHE", str(workdir / "cache"))
    namespace: dict = {}
    blocks = [b for b in _blocks(DOC.read_text()) if b[0] in ("bash", "python")]
    example = blocks[
        [i for i, (lang, _) in enumerate(blocks) if lang == "bash"][-1] :
    ]  # from the example's commands on
    for lang, code in example:
        if lang == "bash":
            for line in code.strip().splitlines():
                argv = shlex.split(line)
                assert argv[0] == "runner", line
                if argv[1] == "train":  # the quickstart's training: the fixture's tiny run stands in
                    assert (ROOT / argv[2]).is_file() and argv[argv.index("--out") + 1] == "runs/quickstart"
                    continue
                assert main(argv[1:] + (["--quiet"] if argv[1:3] == ["data", "mock"] else [])) == 0, line
        else:
            exec(compile(code, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert namespace["pressure"].shape == (700, 700) and namespace["draws"].shape == (3, 700, 700)
    assert np.all(np.isfinite(namespace["pressure"])) and namespace["pressure"].min() > -1e-6
    spectra = namespace["spectra"]
    assert spectra.k.shape == spectra.auto_ratio_mean.shape == (20,) and np.all(np.diff(spectra.k) > 0)
    assert "refused: " in out and "not its units" in out and "warned: " in out and "multiply it by 2.5" in out, out[
        -3000:
    ]
    assert namespace["fixed"].shape == (700, 700)


def test_import_runner_is_light():
    code = "import sys, runner; assert callable(runner.__getattr__); print(sorted(m for m in ('torch', 'numpy', 'h5py') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_the_api_names_resolve_lazily():
    import runner
    from runner.science.maps import evaluate_maps
    from runner.science.painter import Painter, PaintError, load_painter

    assert (runner.load_painter, runner.evaluate_maps, runner.Painter, runner.PaintError) == (
        load_painter,
        evaluate_maps,
        Painter,
        PaintError,
    )
    with pytest.raises(AttributeError, match="no attribute 'paint_everything'"):
        runner.paint_everything  # noqa: B018 (the attribute look-up is what is tested)


# -- evaluate_maps against hand calculations ------------------------------------------------------


def test_scaled_paintings_give_the_squared_and_linear_ratios():
    from runner import evaluate_maps

    rng = np.random.default_rng(0)
    true = np.exp(rng.standard_normal((4, 64, 64)))
    dm = np.exp(rng.standard_normal((4, 64, 64)))
    c = np.array([0.5, 1.0, 1.5, 2.0])
    spectra = evaluate_maps(c[:, None, None] * true, true, dm, box_size=12.5, bins=8)
    assert spectra.auto.shape == (4, 8) and spectra.k.shape == (8,)
    np.testing.assert_allclose(spectra.auto_ratio, np.repeat((c**2 - 1)[:, None], 8, axis=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(spectra.cross_ratio, np.repeat((c - 1)[:, None], 8, axis=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(spectra.auto_ratio_mean, np.mean(c**2) - 1, rtol=1e-10)
    stds = (np.std(c**2, ddof=0), np.std(c**2, ddof=1))  # ddof is the evaluation's (spectra.ratio_stats)
    assert any(np.allclose(spectra.auto_ratio_std, s, rtol=1e-10) for s in stds)


def test_white_noise_has_the_flat_spectrum_of_its_pixel_area():
    from runner import evaluate_maps

    sigma, n, box = 0.7, 256, 50.0
    noise = sigma * np.random.default_rng(1).standard_normal((n, n))
    spectra = evaluate_maps(noise, noise, np.ones((n, n)), box_size=box, bins=6)
    expected = sigma**2 * (box / n) ** 2  # P = sigma^2 * pixel area
    np.testing.assert_allclose(spectra.auto, expected, rtol=5 * np.sqrt(2 / spectra.n_modes).max())
    assert np.all(np.isnan(spectra.auto_ratio_std)) and np.all(spectra.auto_ratio_mean == 0)


def test_mismatched_shapes_are_refused():
    from runner import evaluate_maps

    with pytest.raises(ValueError, match="one shape"):
        evaluate_maps(np.ones((8, 8)), np.ones((8, 9)), np.ones((8, 8)), box_size=1.0)
