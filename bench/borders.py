"""Where a painted tile's border stripes come from, and what removes them: measured, not guessed.

    python bench/borders.py runs/quickstart                  # a trained run (or a checkpoint file)
    python bench/borders.py runs/quickstart --z 0 1 --tiles 32
    python bench/borders.py runs/quick-reflect --padding-mode reflect   # a model trained so (below)
    python bench/borders.py --train runs/quick-reflect --padding-mode reflect specs/quickstart.yaml

Prints, on test tiles of the checkpoint's own data, with the prior's mean as latent (so that
two paintings differ only by what the network sees around the tile):

1. profile: RMS over tiles of (tile painted alone − tile painted inside a window of 3x its
   size), in network units, against the distance from the tile's border.
2. context: the largest and RMS difference between a painting with ``m`` pixels of context
   and the 3x window's, for m = 8 … 48: how much context the interior needs.
3. layers: which layers' zero padding makes the difference. Each convolution of the prior and
   the generator is run in the 3x window, but with its input zeroed outside the tile and its
   output outside the tile taken from the clean run: that layer, and only it, pads the tile
   with zeros. With every layer so treated the result is exactly the tile painted alone (the
   script checks it). Groups of layers are reported alone and left out.
4. tile size: the auto power of tiles painted alone over that of the same tiles painted in
   context, by k, for tiles of 1x and 2x the trained size painted by the same weights (the
   border's share of the pixels falls with the size); and the paper's statistic (the mean over
   tiles of P_painted/P_true) in the last bin, alone and in context.

``--padding-mode reflect`` (or replicate, circular) sets that padding on every padded Conv2d of
the model (ConvTranspose2d has only zeros in torch), by substitution. Since 2026-12-06 the spec
language declares it (`padding_mode` in any defaults or on a row, docs/variants.md), so a model
trained with it is measured as it is: `python bench/borders.py runs/RUN` on a run of such a spec.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import archspec  # noqa: E402
from runner.data.tiles import assemble  # noqa: E402
from runner.runtime import seeded  # noqa: E402
from runner.science.choice import centre, choose_samples, read_windows  # noqa: E402
from runner.science.spectra import log_bins, power_spectrum  # noqa: E402

MODES = ("reflect", "replicate", "circular")


def with_padding_mode(build, mode: str | None):
    """``archspec.build`` whose padded Conv2d layers pad with ``mode``."""

    def build_mode(spec, *args, **kwargs):
        model = build(spec, *args, **kwargs)
        for module in model.modules():
            if type(module) is torch.nn.Conv2d and module.padding[0] > 0:
                module.padding_mode = mode
        return model

    return build if mode is None else build_mode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a run folder or checkpoint; with --train, the spec to train")
    p.add_argument("--train", metavar="RUN", help="train the spec into RUN first (with --padding-mode)")
    p.add_argument("--padding-mode", choices=MODES, help="padding of every padded Conv2d (default: zeros, as compiled)")
    p.add_argument("--z", type=float, nargs="+", default=[0.0, 1.0], help="redshifts (default 0 1)")
    p.add_argument("--tiles", type=int, default=32, help="test tiles per redshift (default 32)")
    args = p.parse_args(argv)
    import runner.science.painter as painter_module
    import runner.train.recipe as recipe

    archspec.build = with_padding_mode(archspec.build, args.padding_mode)  # what training and painting call
    if args.train:
        code = recipe.train(
            archspec.load(args.checkpoint), args.train, device="cpu", quiet=True, evaluate=False, resume=True
        )
        if code:
            return code
        args.checkpoint = args.train
    painter = painter_module.Painter.load(args.checkpoint, device="cpu")
    data = painter_module.open_test_split(painter.spec)
    for z in args.z:
        measure(painter, data, z, args.tiles, layers=args.padding_mode is None)
    return 0


def measure(painter, data, z: float, n: int, layers: bool = True) -> None:
    tile = data.space.tile
    zi = data.space.redshifts.index(min(data.space.redshifts, key=lambda s: abs(s - z)))
    z = data.space.redshifts[zi]
    idx = choose_samples(data.space, zi, n, np.random.default_rng(0))
    windows = read_windows(data, idx, tile)  # 3 x 3 tiles around each
    zs = torch.full((len(idx),), z, dtype=torch.float64)
    x, y = assemble(
        {k: torch.from_numpy(v) for k, v in windows.items()}, zs, painter.transforms, painter.spec.data.redshift_offset
    )
    paint = lambda y_, m: centre(_paint(painter, y_), m)  # noqa: E731
    ref = paint(y, tile)
    alone = paint(centre(y, tile).contiguous(), 0)
    print(f"\n== z = {z:g}, {len(idx)} test tiles of {tile}^2, {painter.provenance['samples_seen']:,} samples trained")
    profile = _profile((alone - ref) ** 2) ** 0.5
    steps = range(0, tile // 2, max(1, tile // 32))
    print("1. RMS(alone - in context) [network units] by distance from the border [px]")
    print("   d   " + " ".join(f"{d:6d}" for d in steps))
    print("   rms " + " ".join(f"{profile[d]:6.3f}" for d in steps))
    print(f"   for scale: RMS(in context - truth) = {np.sqrt(((ref - centre(x[:, 0].numpy(), tile)) ** 2).mean()):.3f}")
    print("2. context m [px]: max and RMS |painted with m - painted with a full tile around|")
    for m in (8, 16, 24, 32, 48):
        if m < tile:
            d = paint(centre(y, tile - m).contiguous(), m) - ref
            print(f"   m = {m:2d}: max {np.abs(d).max():.2e}, rms {np.sqrt((d**2).mean()):.2e}")
    if layers:  # the substitution pads with zeros: it describes a zero-padded model only
        _layers(painter, y, tile, alone, ref)
    _tile_sizes(painter, data, x, y, tile, z)


def _paint(painter, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad(), seeded(torch.device("cpu"), 0):
        return painter.kind.paint(painter.model, y, "mean")[:, 0].double().numpy()


def _profile(values: np.ndarray) -> np.ndarray:
    """Mean over tiles and pixels at each distance from the nearest border."""
    n = values.shape[-1]
    d = np.minimum(np.arange(n), n - 1 - np.arange(n))
    dist = np.minimum(d[:, None], d[None, :])
    return np.array([values[..., dist == k].mean() for k in range(n // 2)])


def _layers(painter, y: torch.Tensor, tile: int, alone: np.ndarray, ref: np.ndarray) -> None:
    model = painter.model
    convs = [
        (f"{net}.{name}", m)
        for net in ("prior", "generator", "painter")
        if hasattr(model, net)
        for name, m in getattr(model, net).named_modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]
    size = y.shape[-1]
    clean: dict = {}

    def region(n: int) -> slice:
        return slice(tile * n // size, 2 * tile * n // size)

    def run(padded=()) -> np.ndarray:
        hooks = []
        for name, module in convs:
            if name in padded:

                def zero_outside(mod, args):
                    r = region(args[0].shape[-1])
                    kept = torch.zeros_like(args[0])
                    kept[..., r, r] = args[0][..., r, r]
                    return (kept,)

                def clean_outside(mod, args, out, name=name):
                    r = region(out.shape[-1])
                    merged = clean[name].clone()
                    merged[..., r, r] = out[..., r, r]
                    return merged

                hooks += [module.register_forward_pre_hook(zero_outside), module.register_forward_hook(clean_outside)]
            elif not padded:
                hooks.append(
                    module.register_forward_hook(lambda mod, args, out, name=name: clean.__setitem__(name, out))
                )
        try:
            return centre(_paint(painter, y), tile)
        finally:
            for h in hooks:
                h.remove()

    rms = lambda a: float(np.sqrt(((a - ref) ** 2).mean()))  # noqa: E731
    run()
    total = rms(alone)
    names = [n for n, _ in convs]
    check = float(np.abs(run(tuple(names)) - alone).max())
    print(
        f"3. zero padding by layer: RMS(alone - in context) = {total:.4f} (every layer padded at the tile: "
        f"max difference to the tile painted alone {check:.1e})"
    )
    groups: dict[str, list[str]] = {}
    for name, module in convs:
        net, part = name.split(".")[:2]
        kind = "ConvTransp" if isinstance(module, torch.nn.ConvTranspose2d) else "Conv"
        groups.setdefault(f"{net}.{part} {kind}", []).append(name)
    tail = [n for n in names if n.startswith(("generator.B", "painter"))][-3:]
    groups["last 3 layers of the painting network"] = tail
    print(f"   {'layers':42s} {'only these padded':>20s} {'all but these padded':>22s}")
    for label, members in groups.items():
        only, rest = rms(run(tuple(members))), rms(run(tuple(n for n in names if n not in members)))
        print(
            f"   {label + f' ({len(members)})':42s} {only:9.4f} ({only / total:6.0%}) {rest:11.4f} "
            f"({rest / total:6.0%})"
        )


def _tile_sizes(painter, data, x: torch.Tensor, y: torch.Tensor, tile: int, z: float) -> None:
    """The stripes' power: <P_alone>/<P_context> (mean spectra over tiles) by k, and the paper's
    statistic, the mean over tiles of P_painted/P_true, alone and in context, at the last bin."""
    print(
        "4. tile size: <P_alone> / <P_in context> of the auto spectrum near k = 1, 2, 5, 10 h/Mpc and Nyquist; "
        "mean over tiles of P/P_true at Nyquist, alone | in context"
    )
    context = _paint(painter, y)
    for size in (tile, 2 * tile):
        m = (3 * tile - size) // 2
        alone, inner, truth = (
            _paint(painter, centre(y, m).contiguous()),
            centre(context, m),
            centre(x[:, 0].double().numpy(), m),
        )
        box = size * float(data.store.pixel_size)
        edges = log_bins(box, (size, size), 20)

        def spectrum(t, box=box, edges=edges):
            return power_spectrum(painter.transforms["pressure"].inverse(t, z), box_size=box, bins=edges)

        p_alone, p_inner, p_true = spectrum(alone), spectrum(inner), spectrum(truth)
        keep = np.flatnonzero(p_true.n_modes > 0)
        at = sorted({int(keep[np.argmin(np.abs(p_true.k[keep] - k))]) for k in (1, 2, 5, 10)} | {int(keep[-1])})
        excess = p_alone.power.mean(0) / p_inner.power.mean(0)
        paper = [(p.power[:, keep[-1]] / p_true.power[:, keep[-1]]).mean() for p in (p_alone, p_inner)]
        print(
            f"   {size:4d}^2  "
            + "  ".join(f"k {p_true.k[i]:5.2f}: {excess[i]:6.2f}" for i in at)
            + f"   |   {paper[0]:8.3g} | {paper[1]:6.3g}"
        )


if __name__ == "__main__":
    sys.exit(main())
