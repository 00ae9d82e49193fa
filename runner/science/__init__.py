"""What follows training: painting maps with a trained model, and judging the paintings.

    tiling.py          tiles of a large map and their blending weights (torch-free)
    painter.py         Painter: a checkpoint's generator with its transforms, map in, pressure out
    units.py           the dark-matter units a model expects, and the check of maps against them
    maps.py            evaluate_maps: spectra of painted against true maps, as arrays (notebooks)
    painted_files.py   the HDF5 files `runner paint` reads and writes
    spectra.py         auto and cross power spectra in the paper's bins
    choice.py          which test samples an evaluation paints, and the dark matter around them
    evaluate.py        `runner evaluate`: each test tile painted alone and in context, compared with the truth
    report.py          summary.json and the evaluation's figures, from evaluate's results
    scores.py          worst |ratio - 1| below k = 1, 2, 5 h/Mpc: the numbers runner evaluate and bench print
    figures.py         every figure the runner draws (training curves included), but:
    spectrum_figure.py the evaluation's spectra and their ratios (log view and the paper's ±35%)

Science never imports training: a checkpoint is read through :mod:`runner.checkpoint`.
"""
