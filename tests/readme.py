"""The README's "What happens when" messages, as patterns the tests match what the runner prints against."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SECTION = README.split("## What happens when", 1)[1].split("\n## ", 1)[0]


def quoted(start: str) -> re.Pattern:
    """The README's quoted message that begins with ``start``, as a pattern: each ``…`` stands for any text."""
    found = [m for m in re.findall(r"`([^`]+)`", SECTION) if m.startswith(start)]
    assert len(found) == 1, f"the README's What happens when section quotes {len(found)} messages starting {start!r}"
    return re.compile(".*?".join(re.escape(part) for part in found[0].split("…")), re.S)


def named_test_files() -> list[str]:
    """The test files the section names."""
    return sorted(set(re.findall(r"`(tests/[\w/]*test_\w+\.py)`", SECTION)))
