"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spec_texts import TINY_SPEC


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny spec's file, with the mock store generated into a private cache for this module."""
    root = tmp_path_factory.mktemp("tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSPEC_CACHE", str(root / "cache"))
        path = root / "tiny.yaml"
        path.write_text(TINY_SPEC)
        yield path
