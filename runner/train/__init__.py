"""Training a spec: the recipe (the loop), its schedule, run options, resume rules, the run folder.

    recipe.py     train() and the Recipe: the loop, top to bottom, built of the parts below
    state.py      TrainState: model, optimizers, samplers, counters; to and from a checkpoint
    folder.py     RunFolder: which checkpoint to resume, whose data, the lock and files, what is kept
    recovery.py   StopControl: signals and non-finite losses -> continue, stop or roll back
    science.py    CheckpointScience: each checkpoint's spectra and figures, here or in a child
    background.py the child process that measures a checkpoint while training goes on
    step.py       Step: how one step computes for a kind (losses, phases, optimizers)
    fastpath.py   precision, memory layout, compile, CUDA graphs, threads
    guard.py      the finiteness watch (no per-step sync) and the fault it reports
    retention.py  which checkpoints and eval/<N>/ folders a run keeps
    schedule.py   batch size and learning rate as pure functions of samples seen
    options.py    RunOptions: what changes speed or bookkeeping, never the trained function
    resume.py     what may differ on resume, and the command that continues a run
    runlog.py     the run folder's files: spec, environment, commands, data identity, metrics, lock

How each model kind is trained (its loss and phases) is declared in :mod:`runner.kinds`.
"""
