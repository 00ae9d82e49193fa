"""Training a spec: the recipe (the loop), its schedule, run options, resume rules, the run folder.

    recipe.py     Recipe and train(): setup, the step, evaluation, checkpoints, the end
    schedule.py   batch size and learning rate as pure functions of samples seen
    options.py    RunOptions: what changes speed or bookkeeping, never the trained function
    resume.py     what may differ on resume, and the command that continues a run
    runlog.py     the run folder's files: spec, environment, commands, metrics, progress

How each model kind is trained (its loss and phases) is declared in :mod:`runner.kinds`.
"""
