"""Checking a spec: loading it, its names and references, and the static shape flow.

    load.py       YAML -> a checked Spec, every problem at file:line:col (the pipeline's stages)
    semantics.py  checks that need the whole spec: names, references, the kind's contract, cycles
    contract.py   the output each network of a kind must give
    shapes.py     the static shape flow: every row's (C, H, W), by integer arithmetic alone
    arith.py      one small function per layer kind: torch's shape rules, without torch
    traces.py     what the shape flow records row by row, for `archspec show`
    overrides.py  `--set` overrides that change nothing; load_with_warnings

Fixing sits above checking: `load` asks :mod:`archspec.fixing` for fixes (lazily, only when a
spec has problems), and fixing re-runs these checks on every fix it proposes.
"""
