"""`extends:`: a spec over another spec. What each kind of key does to the base, and where each
error points: at the key of the file that said it, or at the inherited text in the base file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import archspec
from archspec.cli import main as archspec_main
from archspec.composition.compose import resolve_extends
from archspec.language.dump import dump
from archspec.language.errors import SpecError
from archspec.text.yamlpos import parse

ROOT = Path(__file__).resolve().parents[3]
QUICK = (ROOT / "specs" / "quickstart.yaml").read_text()
PAPER = (ROOT / "specs" / "paper_cvae.yaml").read_text()


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _problems(path: Path) -> list:
    with pytest.raises(SpecError) as err:
        archspec.load(path)
    return err.value.problems


def _where(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the one ``needle`` in ``text``, found by hand, not by the loader."""
    (found,) = [(i, line) for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return found[0], found[1].index(needle) + 1


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return _write(tmp_path, "base.yaml", QUICK)


# --- the "done when": wrong overrides, with file, line and column -------------------------


def test_wrong_overrides_are_errors_at_the_childs_key(base, tmp_path):
    child = _write(
        tmp_path,
        "variants/wrong.yaml",
        """\
# two overrides of things the base does not have
extends: ../base.yaml
model:
  networks:
    recognition.D.table[0]: [Conv, 32/2, 5, 1]
    prior.A.table[3].kernel: 3
""",
    )
    found = {(p.file, p.line, p.col): p for p in _problems(child)}
    assert set(found) == {(str(child), 5, 5), (str(child), 6, 5)}
    missing_part, out_of_range = found[(str(child), 5, 5)], found[(str(child), 6, 5)]
    assert (
        missing_part.code == "override_missing"
        and "no part 'D'" in missing_part.message
        and "A, B, C" in missing_part.message
    )
    assert (
        out_of_range.code == "override_missing"
        and "from 0 to 2" in out_of_range.message
        and "found 3" in out_of_range.message
    )
    assert out_of_range.loc == ("model", "networks", "prior", "A", "table", 3)


def test_a_cycle_of_extends_is_an_error_where_it_closes(tmp_path):
    a = _write(tmp_path, "a.yaml", "extends: b.yaml\n")
    b = _write(tmp_path, "b.yaml", "# b\nextends: a.yaml\n")
    (problem,) = _problems(a)
    assert (problem.file, problem.line, problem.col, problem.code) == (str(b), 2, 10, "extends_cycle")
    assert "a.yaml -> b.yaml -> a.yaml" in problem.message.replace(str(tmp_path) + "/", "")
    (itself,) = _problems(_write(tmp_path, "self.yaml", "extends: self.yaml\n"))
    assert (itself.line, itself.col, itself.code) == (1, 10, "extends_cycle")


def test_a_missing_base_is_an_error_at_the_extends_line(tmp_path):
    child = _write(tmp_path, "variants/lost.yaml", "# header\n\nextends: ../nothere.yaml\nname: lost\n")
    (problem,) = _problems(child)
    assert (problem.file, problem.line, problem.col, problem.code) == (str(child), 3, 10, "extends_missing")
    assert str(tmp_path / "nothere.yaml") in problem.message


def test_cli_prints_file_line_and_column(base, tmp_path, capsys):
    child = _write(tmp_path, "c.yaml", "extends: base.yaml\nmodel.networks.generator.Bb.table[0].kernel: 3\n")
    assert archspec_main(["check", str(child)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{child}:2:1: error: model.networks.generator.Bb: the base has no part 'Bb'")
    assert "fix: did you mean 'B'?" in err


# --- inherited errors name the base ---------------------------------------------------------------


def test_an_error_in_an_inherited_row_names_the_base_file_and_line(base, tmp_path):
    """A base row the variant inherits with its error: the base's line, "inherited by"."""
    broken = _write(
        tmp_path, "broken.yaml", QUICK.replace("[Conv, 16/2, 5, 1, _, _, _]", "[Conv, 16/3, 5, 1, _, _, _]")
    )
    child = _write(tmp_path, "seed.yaml", "extends: broken.yaml\ntraining: {seed: 4}\n")
    (problem,) = _problems(child)
    line, col = _where(QUICK, "[Conv, 16/2, 5, 1, _, _, _]")
    assert (problem.file, problem.line) == (str(broken), line)
    assert problem.message.endswith(f"(inherited by {child})")


def test_an_error_the_variants_shapes_cause_in_base_rows_is_blamed_on_the_shapes(base, tmp_path):
    """model.shapes.z smaller than the base's networks give: the base alone is clean, so each
    network's error is told at the variant's z line (and counted there), naming the base's place."""
    text = "extends: base.yaml\nmodel.shapes.z: [1, 4, 4]\n"
    child = _write(tmp_path, "small_z.yaml", text)  # the prior still gives 8²
    problems = {p.loc: p for p in _problems(child)}
    problem = problems[("model", "networks", "prior")]
    at = QUICK.index("A:", QUICK.index("prior:"))  # the prior network's mapping, in the base
    line, col = QUICK.count("\n", 0, at) + 1, at - QUICK.rfind("\n", 0, at)
    assert (problem.file, problem.line, problem.col) == (str(child), 2, 1)
    assert f"after the edit model.shapes.z: {base} alone checks clean (this is at {base}:{line}:{col} there)" in (
        problem.message
    )


def test_an_error_the_variants_own_row_causes_is_told_and_fixed_at_that_row(base, tmp_path):
    child = _write(
        tmp_path,
        "narrow.yaml",
        "extends: base.yaml\nmodel.networks.generator.B.table[4]: [ConvTransp, 32/12, 4, 2, F, T, ReLU]\n",
    )
    (problem,) = _problems(child)
    line, _ = _where(QUICK, "16/8")  # generator B's row 5, [ConvTransp, 16/8, ...], which still expects 16 in
    assert "[ConvTransp, 16/8, 4, 2" in QUICK.splitlines()[line - 1]
    assert (problem.file, problem.line, problem.col) == (str(child), 2, 51)  # the 32/12 the variant wrote
    assert f"the next row (model.networks.generator.B.table[5], line {line} of {base}) reads 16" in problem.message
    assert problem.fix == "write 32/16"


def test_an_error_a_removal_causes_in_a_base_row_is_blamed_on_the_removal(base, tmp_path):
    """The base checks clean; removing generator B's row 2 leaves the ResBlock after it reading 16
    channels: the error names the variant's ~ line (and the base row that fails), and the summary
    counts it in the variant."""
    text = "extends: base.yaml\nmodel:\n  networks:\n    ~generator.B.table[2]:\n"
    child = _write(tmp_path, "remove.yaml", text)
    assert archspec.load(base)  # clean on its own
    (problem,) = _problems(child)
    assert (problem.file, problem.line, problem.col) == (str(child), *_where(text, "~generator"))
    line, col = _where(QUICK, "{block: ResBlock, repeat: 2}")
    assert (
        f"after the edit ~generator.B.table[2]: {base} alone checks clean (this is at {base}:{line}:{col} there)"
        in (problem.message)
    )
    assert "inherited by" not in problem.message
    assert problem.fix == "change or undo this edit, or override the row that fails"


def test_an_error_of_the_middle_file_of_a_chain_gets_that_files_fix(base, tmp_path):
    """base <- mid (a stride-3 row) <- leaf (a seed): checking the leaf names mid's line, says the
    leaf inherits it, and gives the fix that checking mid gives, naming mid."""
    mid_text = "extends: base.yaml\nmodel.networks.generator.B.table[1]: [Conv, 8/16, 4, 3, _, _, _]\n"
    mid = _write(tmp_path, "mid.yaml", mid_text)
    leaf = _write(tmp_path, "leaf.yaml", "extends: mid.yaml\ntraining: {seed: 2}\n")
    (direct,) = _problems(mid)
    (problem,) = _problems(leaf)
    assert (problem.file, problem.line, problem.col) == (direct.file, direct.line, direct.col)
    assert direct.file == str(mid) and direct.line == 2
    assert problem.message.endswith(f"(inherited by {leaf})")
    assert problem.fix == f"{direct.fix} (in {mid}, which has this problem itself)"


def test_positions_follow_each_node_through_a_chain(base, tmp_path):
    mid = _write(
        tmp_path,
        "mid.yaml",
        "extends: base.yaml\nname: mid\nmodel.networks.generator.B.table[6]: [Conv, 8/4, 7, 1, F, F, PReLU]\n",
    )
    top = _write(tmp_path, "top.yaml", "extends: mid.yaml\nmodel.networks.generator.B.table[5].channels: 16/6\n")
    (problem,) = _problems(top)
    # top's row 5 gives 6 channels, mid's row 6 (mid.yaml line 3) reads 8: told at top's cell, naming mid's line
    assert (problem.file, problem.line, problem.col) == (str(top), 2, 47)
    assert problem.loc == ("model", "networks", "generator", "B", "table", 5, "channels")
    assert f"the next row (model.networks.generator.B.table[6], line 3 of {mid}) reads 8" in problem.message


# --- what each key does ---------------------------------------------------------------------------


def _resolved(path: Path) -> dict:
    doc, problems = resolve_extends(parse(path.read_text()), str(path))
    assert not problems, [p.format() for p in problems]
    return doc.data


def test_rows_cells_insertions_and_removals_count_the_bases_rows(base, tmp_path):
    child = _write(
        tmp_path,
        "edits.yaml",
        """\
extends: base.yaml
model.networks.generator.B:
  table[0].kernel: 3
  table[1][2]: 8
  table[3].repeat: 5
  table[4]: [ConvTransp, 32/16, 4, 2, F, T, ELU]
  ~table[5]:
  +table[5]: [[Conv, 16/16, 3, 1], [Conv, 16/8, 3, 1]]
  +table[0]: [Conv, 3/3, 1, 1]
  +table[9]: {block: ResBlock}
  table[7].padding: 2
  table[8].output_padding: 0
""",
    )
    table = _resolved(child)["model"]["networks"]["generator"]["B"]["table"]
    assert table == [
        ["Conv", "3/3", 1, 1],  # + before row 0
        ["Conv", "3/8", 3, 1, "_", "_", "_"],  # row 0, kernel 5 -> 3
        ["Conv", "8/16", 8, 2, "_", "_", "_"],  # row 1, column 2 (kernel) 4 -> 8
        ["Conv", "16/32", 4, 2, "_", "_", "_"],  # row 2 as it was
        {"block": "ResBlock", "repeat": 5},  # row 3, repeat 2 -> 5
        ["ConvTransp", "32/16", 4, 2, "F", "T", "ELU"],  # row 4 replaced
        ["Conv", "16/16", 3, 1],
        ["Conv", "16/8", 3, 1],  # row 5 removed, two rows in its place
        ["Conv", "8/4", 7, 1, "_", "F", "PReLU"],  # row 6 as it was
        ["Conv", "4/1", 5, 1, "_", "F", "PReLU", 2],  # row 7 with an eighth column
        {
            "layer": "Conv",
            "channels": "1/1",
            "kernel": 3,
            "stride": 1,
            "bias": "_",
            "batchnorm": "F",
            "activation": "Softplus",
            "output_padding": 0,
        },  # row 8, as a mapping: output_padding is no column
        {"block": "ResBlock"},  # + after the last (index 9 = the base's length)
    ]


def test_mappings_merge_keys_are_removed_and_the_name_is_the_files(base, tmp_path):
    child = _write(
        tmp_path,
        "merge_me.yaml",
        "extends: base.yaml\ntraining:\n  seed: 5\n  lr: {start: 0.01}\n~training.evaluation:\n",
    )
    data = _resolved(child)
    base_data = parse(QUICK).data
    assert data["training"]["seed"] == 5 and data["training"]["samples"] == base_data["training"]["samples"]
    assert data["training"]["lr"] == {**base_data["training"]["lr"], "start": 0.01}
    assert "evaluation" not in data["training"] and "extends" not in data
    assert data["name"] == "merge_me" and "description" not in data  # what a file says of itself is not inherited


def test_a_new_part_is_written_whole(base, tmp_path):
    child = _write(
        tmp_path, "newpart.yaml", "extends: base.yaml\nmodel.networks.prior.B: {input: A, table: [[Conv, 2/2, 3, 1]]}\n"
    )
    assert _resolved(child)["model"]["networks"]["prior"]["B"] == {"input": "A", "table": [["Conv", "2/2", 3, 1]]}


@pytest.mark.parametrize(
    "edits, message",
    [
        (
            "model.networks.generator.B.table[4]: [Conv, 32/16, 3, 1]\n~model.networks.generator.B.table[4]:\n",
            "already sets",
        ),
        (
            "+model.networks.generator.B.table[2]: [Conv, 16/16, 3, 1]\nmodel.networks.generator.B:\n  +table[2]: [Conv, 16/16, 3, 1]\n",
            "already inserts before",
        ),
        ("+model.networks.generator.B: [Conv, 16/16, 3, 1]\n", None),
        (
            "model.networks.generator.B.table: [[Conv, 3/1, 3, 1]]\nmodel.networks.generator.B.table[0].kernel: 5\n",
            "already sets",
        ),
        ("~model.networks.generator.B.table[2]:\nmodel.networks.generator.B.table[2].kernel: 5\n", "already removes"),
    ],
)
def test_two_edits_of_one_row_are_an_error_at_the_second(base, tmp_path, edits, message):
    child = _write(tmp_path, "clash.yaml", "extends: base.yaml\n" + edits)
    problems = _problems(child)
    if message is None:  # `+B:` is no insertion: a + key ends with an index
        assert [(p.line, p.code) for p in problems] == [(2, "override_syntax")]
        return
    (problem,) = problems
    line = 4 if "+table" in edits else 3
    assert (problem.file, problem.line, problem.code) == (
        str(child),
        line,
        "override_conflict",
    ) and message in problem.message


def test_a_removal_takes_no_value_and_a_path_must_be_well_formed(base, tmp_path):
    child = _write(tmp_path, "bad.yaml", "extends: base.yaml\n~training.seed: 3\nmodel.networks..A: 1\n")
    assert [(p.line, p.col, p.code) for p in _problems(child)] == [(2, 1, "override_syntax"), (3, 1, "override_syntax")]


# --- the resolved spec is what counts --------------------------------------------------------------


def test_the_resolved_spec_is_a_flat_copy_hashed_as_one():
    variant = archspec.load(ROOT / "specs" / "variants" / "free_latent.yaml")
    copy = parse(PAPER).data  # the full copy a variant used to be, made by hand
    copy["model"]["networks"]["recognition"]["C"]["table"][0] = ["Conv", "64/2", 5, 1, "F", "F", "none"]
    copy["model"]["networks"]["prior"]["A"]["table"][3] = ["Conv", "32/2", 5, 1, "F", "F", "none"]
    copy.update(name=variant.name, description=variant.description)
    assert archspec.spec_hash(archspec.loads(yaml.safe_dump(copy))) == archspec.spec_hash(variant)
    assert archspec.spec_hash(variant) != archspec.spec_hash(archspec.load(ROOT / "specs" / "paper_cvae.yaml"))
    assert "extends" not in dump(variant) and archspec.loads(dump(variant)) == variant


def test_set_applies_after_the_bases(base, tmp_path):
    child = _write(tmp_path, "c.yaml", "extends: base.yaml\nmodel.networks.generator.B.table[3].repeat: 3\n")
    spec = archspec.load(child, ["model.networks.generator.B.table[3].repeat=4"])
    assert spec.model.networks["generator"].parts["B"].table[3].repeat == 4


def test_show_resolved_prints_the_flat_spec_with_its_hash(capsys):
    path = ROOT / "specs" / "variants" / "deep_generator.yaml"
    assert archspec_main(["show", "--resolved", str(path)]) == 0
    out = capsys.readouterr().out
    spec = archspec.load(path)
    assert "extends" not in out and f"# spec_hash: {archspec.spec_hash(spec)}" in out.splitlines()[:2]
    assert archspec.loads(out) == spec
    # the variant's three lines, applied by hand to the base's resolved form, give its resolved form
    assert archspec_main(["show", "--resolved", str(ROOT / "specs" / "paper_cvae.yaml")]) == 0
    expected = yaml.safe_load(capsys.readouterr().out)
    expected["name"] = "deep_generator"
    expected["description"] = "paper_cvae with 8 residual blocks in the generator (the paper's 4)"
    assert expected["model"]["networks"]["generator"]["B"]["table"][4] == {"block": "ResBlock", "repeat": 4}
    expected["model"]["networks"]["generator"]["B"]["table"][4]["repeat"] = 8
    assert yaml.safe_load(out) == expected


def test_schema_accepts_a_variant_and_flags_a_misspelt_plain_key():
    validator = jsonschema.Draft202012Validator(json.loads((ROOT / "specs" / "schema.json").read_text()))
    data = parse((ROOT / "specs" / "variants" / "free_latent.yaml").read_text()).data
    assert not list(validator.iter_errors(data))
    assert list(validator.iter_errors({**data, "trainig": {"seed": 1}}))
    assert list(validator.iter_errors({**data, "training": {"seed": "one"}}))
    assert list(
        validator.iter_errors({k: v for k, v in parse(PAPER).data.items() if k != "model"})
    )  # without extends: all required


def test_each_base_is_found_from_the_folder_of_the_file_that_names_it(tmp_path):
    # a chain across folders of different depths: mid names its base relative to mid's folder,
    # which is not the child's; resolving it from the child's folder would find nothing
    _write(tmp_path, "lib/bases/base.yaml", QUICK)
    _write(tmp_path, "lib/mid.yaml", "extends: bases/base.yaml\nname: mid\ntraining.seed: 3\n")
    child = _write(tmp_path, "work/a/b/child.yaml", "extends: ../../../lib/mid.yaml\nname: child\n")
    spec = archspec.load(child)
    assert (spec.name, spec.training.seed) == ("child", 3)
    assert list(spec.model.shapes["x"]) == yaml.safe_load(QUICK)["model"]["shapes"]["x"]


def test_an_index_past_the_end_names_the_base_row_that_looks_like_the_one_written(tmp_path):
    """Issue 21 item 4: the quickstart's prior has rows 0-2; [Conv, 16/2, 3, 1] written at [3] is
    its head (row 2: Conv 16/2) with another kernel, so the fix names row 2 beside appending."""
    from archspec.checking.load import check_text

    quickstart = Path(__file__).resolve().parents[3] / "specs" / "quickstart.yaml"
    text = f"extends: {quickstart}\nname: v\nmodel.networks.prior.A.table[3]: [Conv, 16/2, 3, 1, _, _, _]\n"
    (problem,) = check_text(text, "v.yaml").problems
    assert "expected an index from 0 to 2" in problem.message
    assert "the base's row 2 is [Conv, 16/2, 5, 1, _, _, _]" in problem.fix
    assert "write model.networks.prior.A.table[2]" in problem.fix and "+model.networks.prior.A.table[3]" in problem.fix
    fixed = text.replace("table[3]", "table[2]")  # what the fix says to write checks
    assert not check_text(fixed, "v.yaml").problems
    unlike = text.replace("[Conv, 16/2, 3, 1, _, _, _]", "[Conv, 2/2, 3, 1, _, _, _]")
    (other,) = check_text(unlike, "v.yaml").problems
    assert "the base's row" not in other.fix  # no row of the base is like it: only the append


def test_an_indentation_slip_in_a_variant_is_judged_with_its_base(base, tmp_path):
    """A key at column 4 between networks (column 3) and its sibling (column 5): moved to column 3
    the text parses but names model.prior, which the base lacks; the fix is chosen by checking
    each candidate as the variant it is (its base found), so column 5."""
    text = (
        "extends: base.yaml\nmodel:\n  networks:\n"
        "    generator.B.table[1]: [Conv, 8/16, 4, 2, _, _, _]\n"
        "   prior.A.table[0]: [Conv, 2/8, 4, 2, _, _, _]\n"
    )
    child = _write(tmp_path, "indent.yaml", text)
    (problem,) = _problems(child)
    assert problem.fix == "indent it to column 5 (1 space right)"
    from archspec.fixing.fixes import apply_fix

    fixed = apply_fix(text, problem.fixes[0])
    child.write_text(fixed)
    assert archspec.load(child)  # the fix leaves a valid variant
