"""What follows training: painting maps with a trained model, and judging the paintings.

    tiling.py          tiles of a large map and their blending weights (torch-free)
    painter.py         Painter: a checkpoint's generator with its transforms, map in, pressure out
    units.py           the dark-matter units a model expects, and the check of maps against them
    maps.py            evaluate_maps: spectra of painted against true maps, as arrays (notebooks)
    painted_files.py   the HDF5 files `runner paint` reads and writes
    spectra.py         auto and cross power spectra in the paper's bins
    evaluate.py        `runner evaluate`: spectra, one-point statistics, panels, summary.json
    figures.py         every figure the runner draws (training curves included)

Science never imports training: a checkpoint is read through :mod:`runner.checkpoint`.
"""
