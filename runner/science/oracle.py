"""The halo oracle: the best any painter of the halo sky can do, scored as a model is scored.

    rows = oracle_scores(spec)                       # per redshift, on runner evaluate's samples
    python bench/ceiling.py specs/quickstart.yaml --oracle

The halo sky's pressure is the halos' GNFW profiles, each times its own lognormal scatter, plus
a diffuse part that follows the background (docs/mock.md). A painter that knew every halo's
position and mass and the background, but not the scatter, could at best paint the mean over
the scatter: the **halo oracle** (:func:`runner.data.mock.halo_sky` with ``oracle``), written
once into a store beside the mock's own (``mock-halo-oracle-...h5`` in the cache). A network
sees less than that: the summed dark matter of two slices, in which it must find the halos. So
the oracle's scores bound what a deterministic painting can reach on the same test samples:

- its cross power with the dark matter and with the truth is the truth's up to sample noise
  (the scatter has mean 1 and is independent of everything else);
- its auto power is the truth's less the scatter's power: the part no painting of the dark
  matter can hold, only a latent drawn independently of it (which then lowers r(k)).

Scored on the samples ``runner evaluate`` chooses for the same ``tiles`` and ``seed``, with its
statistics (ratio of mean spectra, bands with bootstrap intervals, r(k)), so a row of this table
stands beside a row of a model's evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.data.tiles import summed
from runner.science.choice import evaluation_samples, read_windows
from runner.science.evaluate import bootstrap_generator, brightest, choose_redshifts, score_painting, spectra
from runner.science.protocol import N_BINS
from runner.science.protocol import REDSHIFTS as DEFAULT_REDSHIFTS
from runner.science.spectra import log_bins


def oracle_store(spec, progress: bool = False):
    """The path of the halo oracle's store for ``spec``'s mock store (made once into the cache,
    as the mock store is); a ValueError for a spec whose data is not the halo sky."""
    from runner.data.mock import ensure_mock_store
    from runner.data.open import cache_dir, mock_options

    data = spec.data
    if data.store != "mock" or data.mock.sky != "halo":
        raise ValueError(
            "the halo oracle exists for the halo mock only (data.store: mock, data.mock.sky: halo). "
            f"Received: store {data.store!r}" + (f", sky {data.mock.sky!r}" if data.store == "mock" else "")
        )
    return ensure_mock_store(cache_dir(), progress=progress, oracle=True, **mock_options(data))


def oracle_scores(
    spec,
    *,
    tiles: int | str | None = "auto",
    redshifts: Sequence[float] = DEFAULT_REDSHIFTS,
    seed: int = 0,
    progress: bool = False,
) -> list[dict]:
    """Per stored redshift that stands in for one of ``redshifts``: the oracle's statistics on
    the test samples ``runner evaluate --tiles TILES --seed SEED`` scores.

    Returns:
        [{"z", "idx" (the samples), "k", "auto", "cross" (ratio of mean spectra - 1 per k bin),
        "bands" {kind: {band: (value, lo, hi)}}, "r" (value per k bin), "brightest"}].
    """
    from runner.data.open import open_split
    from runner.data.store import open_store
    from runner.science.painter import open_test_split

    path = oracle_store(spec, progress)  # first: a spec without a halo sky is refused before any work
    test = open_test_split(spec)
    # the oracle's store: its writer refused NaN/inf, as the mock's, so it is not scanned again
    oracle = open_split(spec, open_store(path, scan=False), "test")
    space = test.space
    box = space.tile * float(test.store.pixel_size)
    edges = log_bins(box, (space.tile, space.tile), N_BINS)
    stored = {c["used"] for c in choose_redshifts(redshifts, space.redshifts)}
    rows = []
    for z, zi, idx in evaluation_samples(space, stored, tiles, seed):
        true, painted = read_windows(test, idx, 0), read_windows(oracle, idx, 0)
        dm, p_true, p_oracle = summed(true, "dm"), summed(true, "pressure"), summed(painted, "pressure")
        reference = {"auto": spectra(box, edges, p_true), "cross": spectra(box, edges, dm, p_true)}
        estimate = {"auto": spectra(box, edges, p_oracle), "cross": spectra(box, edges, dm, p_oracle)}
        with_truth = spectra(box, edges, p_true, p_oracle)
        ratios, uncertainty = score_painting(estimate, reference, with_truth, bootstrap_generator(seed, zi))
        rows.append(
            {
                "z": z,
                "idx": idx,
                "k": reference["auto"].k,
                **{kind: ratios[kind][2] for kind in ("auto", "cross")},
                "bands": {kind: uncertainty[kind]["bands"] for kind in ("auto", "cross")},
                "r": uncertainty["r"][0],
                "brightest": brightest(reference["auto"]),
            }
        )
    return rows
