"""What differs between two specs: leaf by leaf over their plain data (defaults resolved).

    for path, old, new in diff_data(to_data(a), to_data(b)):
        print(f"{path}: {old} -> {new}")

Used by ``archspec diff`` and by the runner's resume check; torch-free.
"""
from __future__ import annotations

from typing import Any, Iterator

ABSENT = "(absent)"  # stands for a key one side lacks


def diff_data(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Yield (path, old, new) for every leaf that differs between two plain-data trees.

    Lists of equal length are compared item by item (``table[3]``); lists of different lengths,
    and values of different types, differ as a whole.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            yield from diff_data(a.get(key, ABSENT), b.get(key, ABSENT), f"{path}.{key}" if path else str(key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diff_data(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b
