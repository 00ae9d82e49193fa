"""Reading spec files safely: bounded in size before a byte is read, regular files only, and
bases of ``extends:`` only from inside the spec's own project.

Why: a spec is a few kilobytes of text. ``archspec check /dev/zero`` or a 3 GB file named by
mistake must be refused from ``stat`` alone, not read into memory first; and ``extends:`` must
not become a way to read (and print in an error) any file on the machine.

The rule for bases (SECURITY.md): a base must be a ``.yaml`` / ``.yml`` file whose real path
(symlinks resolved) lies inside the *project root* of the spec being checked — the nearest
folder above it holding ``.git``, ``pyproject.toml`` or ``.archspec-root`` — or inside the
project the command runs in (the same markers above the working folder), or inside a folder
listed in the environment variable ``ARCHSPEC_BASES`` (separated by ``os.pathsep``), which
widens the rule deliberately. A spec in a loose tree (no marker above it) may extend any
``.yaml`` file. In every case a base that is not a spec (no ``archspec:`` or ``extends:`` key)
is refused without a word of its content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_SPEC_BYTES = 2_000_000  # spec files are small; anything larger is a data file passed by mistake
ROOT_MARKERS = (".git", "pyproject.toml", ".archspec-root")
BASES_ENV = "ARCHSPEC_BASES"
SUFFIXES = (".yaml", ".yml")


class Unreadable(Exception):
    """A spec file that was not read: ``str(exc)`` says why, ``exc.fix`` what to do."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.fix = fix


def read_bounded(path: str | os.PathLike, limit: int = MAX_SPEC_BYTES, what: str = "a spec") -> bytes:
    """The bytes of ``path``, refused before reading when it is not a regular file or holds
    more than ``limit`` bytes. OSError for a file that cannot be opened."""
    st = os.stat(path)  # follows symlinks: the file itself is what counts
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise Unreadable(f"expected {what} file, found {_kind(st.st_mode)} at {path}", "name a YAML file")
    if st.st_size > limit:
        raise Unreadable(
            f"expected {what} of at most {limit:,} bytes, found {st.st_size:,} bytes in {path}",
            "name the spec's YAML file, not a data file",
        )
    with open(path, "rb") as f:
        raw = f.read(limit + 1)  # the file may have grown since stat
    if len(raw) > limit:
        raise Unreadable(
            f"expected {what} of at most {limit:,} bytes, found more in {path}",
            "name the spec's YAML file, not a data file",
        )
    return raw


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "no regular file"


def project_root(spec_file: str | os.PathLike) -> Path:
    """The nearest folder above ``spec_file`` (real path) holding a ROOT_MARKERS entry; else its folder."""
    folder = Path(os.path.realpath(spec_file)).parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return folder


def _in_a_project(spec_file) -> bool:
    root = project_root(spec_file)
    return any((root / marker).exists() for marker in ROOT_MARKERS)


def allowed_roots(spec_file: str | os.PathLike) -> list[Path]:
    """The spec's project, the project the command runs in (a variant kept elsewhere may extend
    the specs of the project it is checked from), and ARCHSPEC_BASES's folders."""
    extra = [Path(os.path.realpath(p)) for p in os.environ.get(BASES_ENV, "").split(os.pathsep) if p.strip()]
    here = project_root(Path(os.getcwd()) / "_")
    return [project_root(spec_file), *([here] if any((here / m).exists() for m in ROOT_MARKERS) else []), *extra]


def check_base(base: str, top_spec: str) -> None:
    """Raise :class:`Unreadable` unless ``base`` may be read as a base of ``top_spec``."""
    if not base.lower().endswith(SUFFIXES):
        raise Unreadable(
            f"expected a base spec ending in .yaml or .yml, found {base}", "extends names another spec's YAML file"
        )
    real = Path(os.path.realpath(base))
    roots = allowed_roots(top_spec)
    if not _in_a_project(top_spec):
        return  # a loose tree (no project marker above the spec): only the other rules apply
    if not any(real == root or root in real.parents for root in roots):
        raise Unreadable(
            f"the base {base} lies outside the spec's project {roots[0]}",
            f"copy the base into the project, or allow its folder: {BASES_ENV}={real.parent}",
        )
