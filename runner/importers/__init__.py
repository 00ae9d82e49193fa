"""Models trained elsewhere, as checkpoints of this project.

    original.py         `runner import-original`: the original's fiducial CVAE folder -> a run folder
    original_model.py   the original's state-dict key layout -> ours, every key and shape checked
    original_meta.py    the original's dill ``model_meta``, read without running any of it
    paper_cvae.yaml     the paper's spec, packaged (identical to specs/paper_cvae.yaml)

Checkpoints are written through :mod:`runner.checkpoint`; nothing here imports training.
"""
