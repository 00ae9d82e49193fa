"""Coverage-guided fuzzing of the spec loader with atheris (``pip install atheris``).

    python fuzz/fuzz_spec.py -max_total_time=60                # seeds: every shipped spec
    python fuzz/fuzz_spec.py -max_total_time=600 my_corpus/    # keep what it finds interesting

Bytes go through what ``archspec check FILE`` does with a file's content (UTF-8, then the
loader). A crash is any exception other than SpecError, or a SpecError with a problem that
names no position in the file; libFuzzer writes the input that caused it to ``crash-<sha1>``.
The structured fuzzing that runs in the test suite is tests/archspec/checking/test_spec_fuzz.py; this target
finds what no mutation there thinks of (scanner corners, odd Unicode, deep nesting).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["archspec"]):
    import archspec
    from archspec.language.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]


def check_one(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # archspec.load reports it as an encoding problem before the loader runs
    try:
        archspec.loads(text, filename="fuzz.yaml")
    except SpecError as exc:
        for p in exc.problems:
            if not (p.file == "fuzz.yaml" and p.line and p.line >= 1 and p.col and p.col >= 1):
                raise AssertionError(f"a problem without a position: {p}") from None


def seed_corpus() -> str:
    """A folder of the shipped specs, for runs not given a corpus."""
    folder = Path(tempfile.mkdtemp(prefix="archspec-fuzz-"))
    for i, spec in enumerate(sorted([*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("examples/*.yaml")])):
        (folder / f"seed-{i}.yaml").write_bytes(spec.read_bytes())
    return str(folder)


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        argv.append(seed_corpus())
    atheris.Setup(argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
