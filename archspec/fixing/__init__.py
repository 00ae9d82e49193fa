"""Fixing a spec: fixes proposed, checked to work, and applied to the text.

candidates.py  what a person would try for a problem, before any is checked
repair.py      the fixes that work: each applied and the spec checked again
fixes.py       fixes as data: edits by path, applied to plain data and to text by position
yamlhints.py   clear words (and a fix) for YAML that does not parse: an indentation slip
"""
