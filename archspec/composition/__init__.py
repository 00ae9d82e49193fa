"""Composing a spec from others: a variant over its base, scale knobs, command-line overrides.

    compose.py    `extends:`: the chain of bases, resolved file by file
    edits.py      a variant's keys read as edits of its base, and applied
    scale.py      `model.scale: {width, depth}`

(`--set` overrides are applied by :mod:`archspec.checking.load`, which checks what they give.)
"""
