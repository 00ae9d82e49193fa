"""Training a spec: the recipe (the loop), its schedule, run options, resume rules, the run folder.

    recipe.py     Recipe and train(): setup, the step, evaluation, checkpoints, the end
    folder.py     the recipe's run-folder side: which checkpoint, whose data, what is kept
    state.py      the recipe's checkpoint contents and their restoring (every process's RNG)
    recovery.py   the recipe's answer to signals and to a non-finite loss (stop or roll back)
    guard.py      the finiteness watch (no per-step sync) and the fault it reports
    retention.py  which checkpoints and eval/<N>/ folders a run keeps
    schedule.py   batch size and learning rate as pure functions of samples seen
    options.py    RunOptions: what changes speed or bookkeeping, never the trained function
    resume.py     what may differ on resume, and the command that continues a run
    runlog.py     the run folder's files: spec, environment, commands, data identity, metrics, lock

How each model kind is trained (its loss and phases) is declared in :mod:`runner.kinds`.
"""
