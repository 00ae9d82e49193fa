"""Spec fuzzing: structured but wrong mutations of every shipped spec (deleted keys, swapped
types, out-of-range numbers, wrong channel counts, unknown and dotted names, broken references,
cycles, extra keys, cut rows, forbidden tags, cut or mis-indented text, bad overrides) give
SpecError problems at FILE:LINE:COL (or naming the --set that caused them), exit 1 from
`archspec check`, and never an exception of another kind.

Run in-process through the loader and the CLI's main, so that thousands of cases fit in the
suite's budget; ``ARCHSPEC_FUZZ_EXAMPLES`` scales them (the slow test runs 10,000).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import archspec
from archspec.cli import main as archspec_main
from archspec.language.errors import SpecError

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted([*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("examples/**/*.yaml")])
SOURCES = {p.relative_to(ROOT).as_posix(): yaml.safe_load(p.read_text()) for p in SHIPPED}
# 600 in the default suite (about 9 s on two cores); the slow suite's test draws 10,000
EXAMPLES = int(os.environ.get("ARCHSPEC_FUZZ_EXAMPLES", "600"))
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
POSITION = re.compile(r"^(\S+\.yaml:\d+:\d+|--set \S.*?): error: ")
NAMES = [
    "Conv3D",
    "torch.nn.Conv2d",
    "os.system",
    "__import__",
    "__class__",
    "eval",
    "ReLu",
    "builtins.exec",
    "x.__class__.__bases__",
    "../../etc/passwd",
]


class Mutant(NamedTuple):
    source: str
    how: str
    text: str
    overrides: tuple[str, ...]
    must_fail: bool  # this mutation can never give a valid spec

    def filename(self, root: Path = ROOT) -> str:
        """Where the mutant stands: beside its source, so that its ``extends:`` finds the same base."""
        return str((root / self.source).with_name("mutant.yaml"))


def pick(draw, items):
    """One of ``items``, or None when there are none (a spec without rows, a variant of a few keys)."""
    return draw(st.sampled_from(items)) if items else None


# --- where to mutate ---------------------------------------------------------------------------------


def nodes(data: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) of a plain-data tree, the root first."""
    out = [(path, data)]
    if isinstance(data, dict):
        for k, v in data.items():
            out += nodes(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += nodes(v, path + (i,))
    return out


def rows(data: dict) -> list[tuple]:
    """Paths of every table row (parts' and blocks')."""
    return [
        p
        for p, v in nodes(data)
        if len(p) >= 2 and isinstance(p[-1], int) and p[-2] == "table" and isinstance(v, (list, dict))
    ]


def parts(data: dict) -> list[tuple]:
    """Paths of every network part: model.networks.<net>.<part>."""
    nets = data.get("model", {}).get("networks", {}) if isinstance(data.get("model"), dict) else {}
    return [
        ("model", "networks", n, p)
        for n, net in nets.items()
        if isinstance(net, dict)
        for p, part in net.items()
        if isinstance(part, dict) and "table" in part
    ]


def get(data: Any, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


def put(data: Any, path: tuple, value: Any) -> None:
    get(data, path[:-1])[path[-1]] = value


def row_cell(row: Any, column: str, index: int) -> tuple:
    """The key of a row's cell: its column name in a mapping row, its index in a list row."""
    return (column,) if isinstance(row, dict) else (index,)


# --- the mutations: each draws where, edits a copy, says whether the result must be invalid ----------------


def delete_key(draw, data):
    path = pick(draw, [p for p, _ in nodes(data) if p and isinstance(p[-1], str)])
    if path is None:
        return "nothing to delete", False
    del get(data, path[:-1])[path[-1]]
    required = path in (("archspec",), ("name",), ("model",), ("model", "kind"), ("model", "networks"))
    return f"delete {path}", required and "extends" not in data  # a variant takes what it lacks from its base


def swap_type(draw, data):
    path, old = draw(st.sampled_from([(p, v) for p, v in nodes(data) if p]))
    pool = ["text", 3, -2.5, True, None, [1, "a"], {"k": 1}]
    new = draw(st.sampled_from([v for v in pool if type(v) is not type(old)]))
    put(data, path, new)
    return f"{path}: {old!r} -> {new!r}", False


def out_of_range(draw, data):
    row_path = pick(draw, rows(data))
    if row_path is None:
        return "no rows", False
    row = get(data, row_path)
    if isinstance(row, dict) and "block" in row:
        put(data, row_path + ("repeat",), draw(st.sampled_from([0, -1, -(10**6)])))
        return f"{row_path}.repeat out of range", True
    column, index = draw(st.sampled_from([("kernel", 2), ("stride", 3), ("channels", 1)]))
    cell = row_cell(row, column, index)
    if isinstance(row, list) and len(row) <= index:
        return "row too short to edit", False
    value = (
        draw(st.sampled_from([0, -1, -3, 10**30]))
        if column != "channels"
        else draw(st.sampled_from(["0/4", "4/0", "-2/8"]))
    )
    put(data, row_path + cell, value)
    return f"{row_path}.{column} = {value}", True


def wrong_channels(draw, data):
    candidates = [
        p
        for p in rows(data)
        if "channels" in get(data, p) or (isinstance(get(data, p), list) and len(get(data, p)) > 1)
    ]
    row_path = pick(draw, candidates)
    if row_path is None:
        return "no rows", False
    row = get(data, row_path)
    cell = row_cell(row, "channels", 1)
    c_in, c_out = (int(c) for c in str(get(row, cell)).split("/"))
    d = draw(st.sampled_from([1, 2, 7]))
    new = f"{c_in + d}/{c_out}" if draw(st.booleans()) else f"{c_in}/{c_out + d}"
    put(data, row_path + cell, new)
    return f"{row_path}.channels {c_in}/{c_out} -> {new}", True


def unknown_name(draw, data):
    row_path = pick(draw, rows(data))
    if row_path is None:
        return "no rows", False
    row, name = get(data, row_path), draw(st.sampled_from(NAMES))
    if isinstance(row, dict) and "block" in row:
        row["block"] = name
        return f"{row_path}.block = {name}", True
    which = draw(st.sampled_from(["layer", "activation"]))
    if which == "activation" and isinstance(row, list) and len(row) < 7:
        which = "layer"
    if which == "layer" and isinstance(row, dict) and "layer" not in row:
        return "row without a layer cell", False
    put(data, row_path + row_cell(row, which, 0 if which == "layer" else 6), name)
    return f"{row_path}.{which} = {name}", True


def broken_reference(draw, data):
    path = pick(draw, parts(data))
    if path is None:
        return "no parts", False
    net = get(data, path[:-1])
    names = list(net)
    later = names[names.index(path[-1]) :]  # itself or a part after it: a cycle or a forward reference
    target = draw(st.sampled_from(["Z9", "__class__", *later]))
    get(data, path)["input"] = target if draw(st.booleans()) else [target, "y"]
    return f"{path}.input -> {target}", True


def extra_key(draw, data):
    paths = [
        p
        for p, v in nodes(data)
        if isinstance(v, dict)
        and p[-2:] != ("model", "blocks")
        and not (len(p) >= 1 and p[-1] in ("blocks", "networks"))
    ]
    path = pick(draw, paths)
    if path is None:
        return "no mapping", False
    key = draw(st.sampled_from(["__class__", "kernal", "trainig", "__init__", "import"]))
    if key in get(data, path):
        return "key already there", False
    get(data, path)[key] = draw(st.sampled_from([1, "os.system", [1]]))
    return f"{path}.{key} added", True


def cut_row(draw, data):
    candidates = [p for p in rows(data) if isinstance(get(data, p), list)]
    row_path = pick(draw, candidates)
    if row_path is None:
        return "no list rows", False
    row = get(data, row_path)
    if draw(st.booleans()):
        put(data, row_path, row[: draw(st.integers(0, 1))])
        return f"{row_path} cut to {len(get(data, row_path))} columns", True
    put(data, row_path, row + ["junk"] * draw(st.integers(4, 6)))
    return f"{row_path} with extra columns", True


DATA_MUTATIONS = [
    delete_key,
    swap_type,
    out_of_range,
    wrong_channels,
    unknown_name,
    broken_reference,
    extra_key,
    cut_row,
]


def text_mutation(draw, text: str) -> tuple[str, str, bool]:
    lines = text.splitlines(keepends=True)
    how = draw(st.sampled_from(["truncate", "indent", "tag", "tab"]))
    i = draw(st.integers(0, len(lines) - 1))
    if how == "truncate":
        return text[: draw(st.integers(0, len(text)))], how, False
    if how == "indent":
        shift = draw(st.sampled_from([-2, -1, 1, 3]))
        line = lines[i]
        lines[i] = line[min(-shift, len(line) - len(line.lstrip(" "))) :] if shift < 0 else " " * shift + line
        return "".join(lines), how, False
    if how == "tab":
        lines[i] = "\t" + lines[i].lstrip(" ")
        return "".join(lines), how, False
    colon = [k for k, line in enumerate(lines) if re.search(r": \S", line)]
    if not colon:
        return text, "no value to tag", False
    k = colon[i % len(colon)]
    lines[k] = re.sub(r": (\S)", r": !!python/object/apply:os.system [echo] \1", lines[k], count=1)
    return "".join(lines), how, True


def override(draw, data) -> tuple[str, bool]:
    kind = draw(st.sampled_from(["unknown key", "wrong type", "index out of range", "name"]))
    if kind == "unknown key":
        return f"training.{draw(st.sampled_from(['sampels', '__class__', 'lr.strat']))}=5", True
    if kind == "wrong type":
        return f"training.samples={draw(st.sampled_from(['abc', '[1, 2]', '-4', '{a: 1}']))}", True
    if kind == "name":
        return f"name={draw(st.sampled_from(['..', '.hidden', 'a/b', '-x', '']))}", True
    part = pick(draw, parts(data))
    if part is None:
        return "training.samples=-1", True
    return f"{'.'.join(part)}.table[{99 + draw(st.integers(0, 9))}].kernel=3", True


@st.composite
def mutants(draw) -> Mutant:
    source = draw(st.sampled_from(sorted(SOURCES)))
    data = copy.deepcopy(SOURCES[source])
    overrides: tuple[str, ...] = ()
    layer = draw(st.sampled_from(["data"] * 6 + ["text", "override"]))
    if layer == "override":
        item, must_fail = override(draw, data)
        return Mutant(source, f"--set {item}", yaml.dump(data, Dumper=DUMPER, sort_keys=False), (item,), must_fail)
    how, must_fail = "as shipped", False
    if layer == "data":
        mutation = draw(st.sampled_from(DATA_MUTATIONS))
        how, must_fail = mutation(draw, data)
        how = f"{mutation.__name__}: {how}"
    text = yaml.dump(data, Dumper=DUMPER, sort_keys=False)
    if layer == "text":
        text, how, must_fail = text_mutation(draw, text)
    return Mutant(source, how, text, overrides, must_fail)


# --- the checks ---------------------------------------------------------------------------------------


def checked(m: Mutant) -> int:
    """The exit status `archspec check` would give; asserts where every problem points: the
    mutant's line and column, a base file's (through ``extends:``), or the --set that caused it."""
    filename = m.filename()
    try:
        archspec.loads(m.text, filename=filename, overrides=m.overrides)
    except SpecError as exc:
        n_lines = m.text.count("\n") + 1
        for p in exc.problems:
            if p.file.startswith("--set "):
                assert p.line == 0 and p.file[len("--set ") :] in m.overrides, p
            elif p.file == filename:
                assert 1 <= p.line <= n_lines + 1 and p.col >= 1, p
            else:  # in a base the mutant extends
                assert Path(p.file).is_file() and p.line >= 1 and p.col >= 1, p
        assert_report(exc.report())
        return 1
    assert not m.must_fail, f"{m.source}: {m.how} was accepted"
    return 0


def assert_report(report: str) -> None:
    lines = report.splitlines()
    assert re.fullmatch(r"\d+ errors? in .+", lines[-1]), lines[-1]
    for line in lines[:-1]:
        assert POSITION.match(line) or line.startswith("    fix: "), line


FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@FUZZ
@given(m=mutants())
def test_wrong_specs_are_problems_at_a_position_never_crashes(m):
    status = checked(m)
    event(f"{'invalid' if status else 'valid'} after {m.how.split(':')[0].split(' ')[0]}")


MIRROR = Path(tempfile.mkdtemp(prefix="archspec-fuzz-"))  # the shipped specs' folders, for the CLI's mutants
for _source in SHIPPED:
    (MIRROR / _source.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
    (MIRROR / _source.relative_to(ROOT)).write_bytes(_source.read_bytes())


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 50))
@given(m=mutants())
def test_archspec_check_exits_1_with_positions_and_no_traceback(m):
    path = Path(m.filename(MIRROR))
    path.write_text(m.text)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = archspec_main(["check", str(path), *(a for o in m.overrides for a in ("--set", o))])
    expected = checked(m)
    assert status == expected and "Traceback" not in err.getvalue()
    if status:
        assert_report(err.getvalue().rstrip("\n"))


@pytest.mark.slow
@settings(FUZZ, max_examples=10_000)
@given(m=mutants())
def test_ten_thousand_wrong_specs(m):
    checked(m)


def test_every_shipped_spec_is_a_source():
    assert {
        "specs/paper_cvae.yaml",
        "specs/quickstart.yaml",
        "specs/regression.yaml",
        "specs/variants/free_latent.yaml",
        "examples/seed_as_printed.yaml",
        "examples/typos.yaml",
    } <= set(SOURCES)
    assert all(not p.name.startswith("mutant") for p in SHIPPED)


@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris is not installed (pip install atheris)"
)
def test_the_atheris_target_runs_for_a_bounded_time(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fuzz" / "fuzz_spec.py"),
            "-max_total_time=10",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0 and "Done" in out.stderr, out.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))


def test_found_by_fuzzing_blocks_that_are_not_a_mapping_with_an_unknown_layer():
    """`model.blocks: 3` beside a misspelt layer crashed the name checks with a TypeError."""
    from tests.spec_texts import BASE

    text = BASE.replace("  blocks:\n    Res:", "  blocks: 3\n  unused:\n    Res:").replace(
        "[Conv, 4/8, 4, 2", "[Cnv, 4/8, 4, 2", 1
    )
    with pytest.raises(SpecError) as err:
        archspec.loads(text, filename="t.yaml")
    codes = {p.code for p in err.value.problems}
    assert {"dict_type", "unknown_layer"} <= codes, codes
