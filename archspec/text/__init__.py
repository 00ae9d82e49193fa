"""Reading spec text: safe YAML whose every node knows its file, line and column.

files.py      bounded, regular-file reads; where bases of `extends:` may live
yamlpos.py    safe YAML with the position of every node
located.py    composed data whose nodes remember the file they came from
"""
