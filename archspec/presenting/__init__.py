"""Presenting a spec: what `archspec show`, `check`, `diff`, `draw`, `schema` and `new` print or write.

show.py     per-row shapes, parameters, multiply-adds, memory, receptive field
report.py   problems as text, JSON, SARIF or GitHub annotations; `check --fix`
diff.py     what differs between two specs and what each change costs
draw.py     the networks as a picture (Mermaid, Graphviz DOT), and a variant against its base
schema.py   the JSON Schema of the language
variant.py  `archspec new VARIANT --extends BASE`
"""
