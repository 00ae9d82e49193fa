"""`archspec draw`: the drawing's nodes and edges come from the static shape flow; the shapes on
its edges are the ones torch computes; Mermaid and DOT are well formed; a diff highlights exactly
the rows a variant changes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings

import archspec
from archspec.checking import shapes
from archspec.cli import main
from archspec.language.spec import Spec
from archspec.presenting.draw import dot, drawing, format_shape, mermaid
from tests.archspec.test_compile import spec_dicts

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.yaml"))


def S(path: str) -> str:  # a shipped spec, wherever the tests run from
    return str(ROOT / path)


def _rows_of(spec) -> list:
    return [row for net in shapes.flow(spec).networks.values() for row in net.rows]


def _row_id(row) -> str:
    return "_".join([row.network, row.part, *map(str, row.index)])


def _edges_into(d, node_id: str) -> list:
    return [e for e in d.edges if e.dst == node_id]


@pytest.mark.parametrize("path", SHIPPED)
def test_every_row_of_a_shipped_spec_is_one_node_fed_by_its_input_shape(path):
    spec = archspec.load(ROOT / path)
    d = drawing(spec)
    rows = _rows_of(spec)
    assert sorted(n.id for n in d.rows()) == sorted(_row_id(r) for r in rows)  # each row once, nothing else
    for row in rows:
        (edge,) = _edges_into(d, _row_id(row))
        assert edge.label == format_shape(row.in_shape)


@pytest.mark.parametrize("path", ["specs/quickstart.yaml", "specs/quickstart_regression.yaml"])
def test_the_shape_leaving_each_row_is_what_the_compiled_model_computes(path):
    """The oracle is torch: a forward pass with a hook on every row's module."""
    spec = archspec.load(ROOT / path)
    model = archspec.build(spec).eval()
    seen: dict[str, tuple] = {}

    def record(key: str):
        return lambda module, inputs, output: seen.__setitem__(key, tuple(output.shape[1:]))

    for name, module in model.named_modules():
        parts = name.split(".")
        if len(parts) == 3 and parts[2].isdigit():  # network.part.row
            module.register_forward_hook(record("_".join(parts)))
    inputs = {t: torch.randn(2, *shape) for t, shape in spec.model.shapes.items()}
    with torch.no_grad():
        for net in spec.model.networks:
            network = getattr(model, net)
            reads = [t for t in inputs if t in {s for p in spec.model.networks[net].parts.values() for s in p.inputs}]
            network(**{t: inputs[t] for t in reads})
    d = drawing(spec)
    leaving = {e.src: e.label for e in d.edges if e.src in seen}
    assert leaving and set(leaving) == set(seen)
    for node_id, label in leaving.items():
        assert label == "×".join(map(str, seen[node_id])), node_id


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec_dicts())
def test_random_specs_that_flow_are_drawn_row_for_row(data):
    spec = Spec.model_validate(data)
    if shapes.check(spec):
        return  # the drawing of a spec that does not flow is not promised
    d = drawing(spec)
    rows = _rows_of(spec)
    assert sorted(n.id for n in d.rows()) == sorted(_row_id(r) for r in rows)
    for row in rows:
        assert [e.label for e in _edges_into(d, _row_id(row))] == [format_shape(row.in_shape)]
    _check_mermaid(mermaid(d))
    _check_dot(dot(d))


# --- the text formats ------------------------------------------------------------------------------

NODE = re.compile(r'^(\w+)(\(\["|\["|\{\{")(.*)("\]\)|"\]|"\}\})$')
EDGE = re.compile(r'^(\w+) (-->|-\.->)(\|"[^"]*"\|)? (\w+)$')


def _check_mermaid(text: str) -> None:
    """Mermaid flowchart grammar, as far as this drawing uses it: a header, nodes (one shape each,
    quoted labels without a bare quote), balanced subgraphs, edges between declared nodes."""
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines[0] == "flowchart TB"
    declared, depth, edges = set(), 0, []
    for line in lines[1:]:
        if line.startswith("%%") or line.startswith("classDef ") or line == "direction TB":
            continue
        if line.startswith("subgraph "):
            assert re.fullmatch(r'subgraph \w+\["[^"]*"\]', line), line
            depth += 1
        elif line == "end":
            depth -= 1
            assert depth >= 0
        elif line.startswith("class "):
            assert all(n in declared for n in line.split()[1].split(",")), line
        elif m := NODE.match(line):
            assert '"' not in m[3] and m[1] not in declared, line
            declared.add(m[1])
        elif m := EDGE.match(line):
            edges.append((m[1], m[4]))
        else:
            raise AssertionError(f"not Mermaid flowchart syntax: {line!r}")
    assert depth == 0 and edges and all(a in declared and b in declared for a, b in edges)


def _check_dot(text: str) -> None:
    """DOT: a digraph whose braces balance, whose edges join declared nodes; `dot` itself where installed."""
    assert text.startswith("digraph archspec {") and text.count("{") == text.count("}")
    declared = set(re.findall(r"^\s*(\w+) \[label=", text, re.M))
    edges = re.findall(r"^\s*(\w+) -> (\w+)", text, re.M)
    assert edges and all(a in declared and b in declared for a, b in edges)
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True, timeout=120)
        assert done.returncode == 0 and b"<svg" in done.stdout, done.stderr


@pytest.mark.parametrize("path", SHIPPED)
def test_mermaid_and_dot_of_every_shipped_spec_are_well_formed(path):
    d = drawing(archspec.load(ROOT / path))
    _check_mermaid(mermaid(d))
    _check_dot(dot(d))


# --- the command -----------------------------------------------------------------------------------


def test_the_free_latent_variant_against_the_paper_highlights_exactly_its_two_rows(capsys):
    # the variant file writes two rows (its comments say so): recognition C.0 and prior A.3
    assert main(["draw", S("specs/variants/free_latent.yaml"), "--diff", S("specs/paper_cvae.yaml")]) == 0
    text = capsys.readouterr().out
    (classes,) = re.findall(r"^  class (\S+) changed$", text, re.M)
    assert sorted(classes.split(",")) == ["prior_A_3", "recognition_C_0"]
    assert text.count("was: ") == 2 and "was: Conv 64→2 k5 s1 BN ReLU (-4 params)" in text
    assert main(["draw", S("specs/paper_cvae.yaml"), "--diff", S("specs/paper_cvae.yaml")]) == 0
    assert " changed" not in capsys.readouterr().out.replace("classDef changed", "")


def test_a_removed_row_is_drawn_dashed_and_a_new_one_marked(tmp_path, capsys):
    (tmp_path / "short.yaml").write_text(
        "extends: " + S("specs/quickstart.yaml") + "\nname: short\n"
        "model.networks.generator.B.table[7]: [Conv, 4/1, 5, 1, _, F, Softplus]\n~model.networks.generator.B.table[8]:\n"
    )
    assert main(["draw", str(tmp_path / "short.yaml"), "--diff", S("specs/quickstart.yaml")]) == 0
    text = capsys.readouterr().out
    assert re.search(r'removed_generator_B_8\["removed: B.8 Conv 1→1 k3 s1 Softplus"\]', text)
    assert "class removed_generator_B_8 removed" in text and "class generator_B_7 changed" in text


def test_output_formats_follow_the_extension(tmp_path, capsys):
    assert main(["draw", S("specs/quickstart.yaml"), "-o", str(tmp_path / "q.md")]) == 0
    md = (tmp_path / "q.md").read_text()
    assert md.startswith("```mermaid\nflowchart TB\n") and md.endswith("```\n")
    assert main(["draw", S("specs/quickstart.yaml"), "-o", str(tmp_path / "q.dot")]) == 0
    _check_dot((tmp_path / "q.dot").read_text())
    assert main(["draw", S("specs/quickstart.yaml"), "-o", str(tmp_path / "q.mmd")]) == 0
    _check_mermaid((tmp_path / "q.mmd").read_text())


def test_without_graphviz_an_svg_is_one_line_saying_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["draw", S("specs/paper_cvae.yaml"), "-o", str(tmp_path / "cvae.svg")]) == 1
    err = capsys.readouterr().err
    assert "apt install graphviz" in err and "-o FILE.md" in err and err.count("\n") == 1
    assert not (tmp_path / "cvae.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_with_graphviz_the_paper_spec_is_an_svg(tmp_path):
    assert main(["draw", S("specs/paper_cvae.yaml"), "-o", str(tmp_path / "cvae.svg")]) == 0
    assert (tmp_path / "cvae.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_diff_draw_writes_the_same_picture_as_draw_diff(tmp_path, capsys):
    a, b = S("specs/paper_cvae.yaml"), S("specs/variants/free_latent.yaml")
    assert main(["diff", a, b, "--draw", str(tmp_path / "d.mmd")]) == 1  # 1: the two differ
    capsys.readouterr()  # diff's own lines
    assert main(["draw", b, "--diff", a]) == 0
    assert (tmp_path / "d.mmd").read_text() == capsys.readouterr().out


def test_draw_needs_no_torch():
    code = "import sys; from archspec.cli import main; main(['draw', 'specs/paper_cvae.yaml']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "False", done.stderr


@pytest.mark.parametrize("doc", ["README.md", "docs/paper.md"])
def test_the_docs_show_the_paper_cvae_as_archspec_draws_it(doc, capsys):
    assert main(["draw", S("specs/paper_cvae.yaml")]) == 0
    drawn = capsys.readouterr().out
    blocks = re.findall(r"```mermaid\n(.*?)```", (ROOT / doc).read_text(), re.S)
    assert drawn in blocks, f"run: archspec draw specs/paper_cvae.yaml, and paste it into {doc}"


def test_the_tutorial_shows_the_free_latent_picture_as_archspec_draws_it(capsys):
    assert main(["draw", S("specs/variants/free_latent.yaml"), "--diff", S("specs/paper_cvae.yaml")]) == 0
    drawn = capsys.readouterr().out
    blocks = re.findall(r"```mermaid\n(.*?)```", (ROOT / "docs" / "tutorial.md").read_text(), re.S)
    assert drawn in blocks
