"""Experiments: many runs, and runs side by side.

    sweep.py     `runner sweep`: configurations (a grid of --set values, or variant specs), one
                 run folder each under one sweep folder named after what differs; resumable
    compare.py   `runner compare`: a table (Markdown, CSV, JSON) and a figure of runs side by side

A sweep folder is a folder of run folders, so TensorBoard (`tensorboard --logdir SWEEP`) and
`runner compare SWEEP` see its runs as one experiment.
"""
