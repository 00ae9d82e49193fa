"""The spec language: what a spec is and what it may say.

spec.py               the pydantic models: rows, blocks, parts, networks, model, data, training
columns.py            a flow-list row's columns and which one a short row lacks
registry.py           the names a spec may use: layer kinds and activations
resolve.py            a row's effective bias, batchnorm, activation and padding (the `_` cells)
errors.py             Problem and SpecError: errors as data, collected and reported once
pydantic_problems.py  pydantic's validation errors as problems a user can act on
evolve.py             specs saved by older versions, read under today's language
dump.py               a spec back to text, to plain data and to its hash
kinds/                the model kinds (cvae, regression): their networks, tensors and contract
"""
