"""Static shape flow (issue 3 fills this in): pure integer arithmetic, no torch."""
from __future__ import annotations


def check(spec) -> list:
    return []
