"""The spec language as a user meets it: the CLI, the schema, round trips, and fuzzed input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.cli import main as archspec_main
from archspec.language.errors import SpecError
from archspec.presenting.schema import schema_text
from archspec.text.yamlpos import parse
from tests.spec_texts import BASE

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs" / "variants").glob("*.yaml"))


def test_paper_spec_reads_like_the_seed():
    spec = archspec.load(ROOT / "specs" / "paper_cvae.yaml")
    nets = spec.model.networks
    assert list(nets) == ["recognition", "prior", "generator"]
    assert list(nets["recognition"].parts) == ["A", "B", "C"]
    assert nets["recognition"].parts["C"].inputs == ["A", "B"]
    assert nets["generator"].parts["B"].inputs == ["A", "y"]
    gen_a = nets["generator"].parts["A"].table
    assert [r.layer for r in gen_a] == ["ConvTransp"] * 3  # misprint 1 corrected
    gen_b = nets["generator"].parts["B"].table
    assert [r.layer for r in gen_b[-3:]] == ["Conv"] * 3  # misprint 2 corrected
    assert [r.activation for r in gen_b[-3:]] == ["PReLU", "PReLU", "Softplus"]
    assert gen_b[4].block == "ResBlock" and gen_b[4].repeat == 4
    t = spec.training
    assert (t.samples, t.pseudo_epoch, t.lr.start, t.lr.min, t.lr.milestones) == (
        150_000,
        1568,
        1e-3,
        1e-6,
        [64, 96, 128],
    )
    assert [(s.at, s.size) for s in t.batch_size] == [(0, 4), (8, 8), (16, 16), (32, 24)]
    assert (t.evaluation.every, t.evaluation.batch_size, t.checkpoint.every) == (72, 24, 20_000)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_specs_are_valid_and_match_the_schema(path):
    archspec.load(path)
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema="), "editors find the schema through this line"
    schema = json.loads((ROOT / "specs" / "schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(parse(text).data)


def test_checked_in_schema_is_current():
    assert (ROOT / "specs" / "schema.json").read_text() == schema_text(), "run: archspec schema > specs/schema.json"


def test_schema_rejects_what_the_loader_rejects():
    schema = json.loads((ROOT / "specs" / "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    bad = parse(BASE.replace("kernel: 4, stride: 2", "kernal: 4, stride: 2")).data
    assert not validator.is_valid(bad)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_dump_then_load_round_trips(path):
    spec = archspec.load(path)
    again = archspec.loads(archspec.dump(spec))
    assert again == spec
    assert archspec.spec_hash(again) == archspec.spec_hash(spec)


def test_spec_hash_ignores_formatting_but_not_meaning():
    spec = archspec.loads(BASE)
    reformatted = archspec.loads(
        "# a comment\n" + BASE.replace("[Conv, 3/8, 3, 1, F, T, ReLU]", "[Conv, 3/8, 3, 1, false, true, ReLU]")
    )
    changed = archspec.loads(BASE.replace("samples: 1000", "samples: 1001"))
    assert archspec.spec_hash(reformatted) == archspec.spec_hash(spec) != archspec.spec_hash(changed)


# --- the command line -----------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args], capture_output=True, text=True, cwd=ROOT, timeout=1800
    )


def test_check_exit_codes_and_messages(tmp_path):
    good = run_cli("check", "specs/paper_cvae.yaml")
    assert good.returncode == 0 and "ok" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("[Conv, 4/8, 4, 2", "[Cnv, 4/8, 4, 2"))
    res = run_cli("check", "specs/paper_cvae.yaml", str(bad))
    assert res.returncode == 1
    assert f"{bad}:20:14: error: model.networks.recognition.A.table[1].layer: unknown layer 'Cnv'" in res.stderr
    assert "did you mean 'Conv'" in res.stderr and "Traceback" not in res.stderr
    missing = run_cli("check", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read spec" in missing.stderr and "Traceback" not in missing.stderr
    directory = run_cli("check", str(tmp_path))
    assert directory.returncode == 2 and "Traceback" not in directory.stderr
    usage = run_cli("check")
    assert usage.returncode == 2


def test_schema_command_prints_the_schema():
    res = run_cli("schema")
    assert res.returncode == 0 and json.loads(res.stdout)["title"] == "Spec"


def test_diff_names_the_changed_rows(tmp_path, capsys):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(BASE)
    b.write_text(BASE.replace("[Conv, 3/8, 3, 1, F, T, ReLU]", "[Conv, 3/8, 5, 1, F, T, ReLU]"))
    assert archspec_main(["diff", str(a), str(b)]) == 1  # as diff(1): 1 = they differ
    out = capsys.readouterr().out
    assert "model.networks.generator.B.table[0].kernel: 3 -> 5" in out
    # 3 -> 8 channels, no bias, BatchNorm (2·8): 3·8·3² + 16 = 232, 3·8·5² + 16 = 616; at 32² outputs
    assert "generator.B row 0: parameters 232 -> 616 (+384, +166%); multiply-adds 221,184 -> 614,400" in out
    assert archspec_main(["diff", str(a), str(a)]) == 0


# --- fuzzing --------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["Conv", "ConvTransp", "ReLU", "1/8", "T", "F", "auto", "x", "y", "z", "A", "cvae"]),
)
keys = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["archspec", "name", "model", "kind", "shapes", "networks", "table", "input", "layer", "block"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_yaml_document_gives_a_spec_or_a_clean_error(data):
    text = yaml.safe_dump(data)
    try:
        archspec.loads(text, filename="fuzz.yaml")
    except SpecError as exc:
        assert exc.problems and all(p.line is not None and p.line >= 1 for p in exc.problems)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, prefix + (i,))


BASE_DATA = yaml.safe_load(BASE)
BASE_PATHS = list(_paths(BASE_DATA))[1:]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASE_PATHS), documents)
def test_any_single_node_replaced_gives_a_spec_or_a_clean_error(path, value):
    data = yaml.safe_load(BASE)
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    try:
        archspec.loads(yaml.safe_dump(data), filename="mutant.yaml")
    except SpecError as exc:
        assert exc.problems and all(p.line is not None and p.line >= 1 for p in exc.problems)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_spec_or_a_clean_error(text):
    try:
        archspec.loads(text)
    except SpecError as exc:
        assert exc.problems
