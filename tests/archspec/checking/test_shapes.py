"""Static shape flow: the arithmetic, the paper spec, and one test per kind of error, each at
the exact line and column of the offending node."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import archspec
from archspec.checking import shapes
from archspec.checking.arith import auto_padding, conv_out, conv_transpose_out
from archspec.language.errors import SpecError
from archspec.presenting import show

ROOT = Path(__file__).resolve().parents[3]
PAPER = ROOT / "specs" / "paper_cvae.yaml"

# A small cvae that flows: x, y 8×8, z 2×2. Tests replace one network (or add blocks) and mark
# the offending line with "# <-".
NETWORKS = {
    "recognition": "A: {input: [x, y], table: [[Conv, 3/2, 4, 4]]}",
    "prior": "A: {input: y, table: [[Conv, 2/2, 4, 4]]}",
    "generator": """\
A: {input: z, table: [[ConvTransp, 1/1, 4, 4]]}
B:
  input: [A, y]
  table:
    - [Conv, 3/1, 3, 1]""",
}


def spec_text(
    blocks: str = "", shapes_line: str = "{x: [1, 8, 8], y: [2, 8, 8], z: [1, 2, 2]}", **networks: str
) -> str:
    nets = {**NETWORKS, **{k: textwrap.dedent(v).strip("\n") for k, v in networks.items()}}
    body = "".join(f"    {name}:\n" + textwrap.indent(text, " " * 6) + "\n" for name, text in nets.items())
    blocks_text = (
        ("  blocks:\n" + textwrap.indent(textwrap.dedent(blocks).strip("\n"), " " * 4) + "\n") if blocks else ""
    )
    return (
        "archspec: 1\nname: t\nmodel:\n  kind: cvae\n"
        f"  shapes: {shapes_line}\n"
        "  defaults: {bias: F, batchnorm: T, activation: ReLU, padding: auto}\n"
        f"{blocks_text}  networks:\n{body}"
    )


def marked(text: str, token: str = "[") -> tuple[int, int]:
    """(line, col), 1-based, of ``token`` on the line marked '# <-'."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "# <-" in line:
            return number, line.index(token) + 1
    raise AssertionError("no line marked '# <-'")


def problems(text: str) -> list:
    with pytest.raises(SpecError) as info:
        archspec.loads(text, filename="t.yaml")
    return info.value.problems


def only(text: str):
    found = problems(text)
    assert len(found) == 1, [p.format() for p in found]
    return found[0]


# --- arithmetic ----------------------------------------------------------------------------------


def test_conv_arithmetic():
    assert conv_out(512, 4, 2, 1) == 256
    assert conv_out(256, 8, 4, 2) == 64
    assert conv_out(2, 8, 4, 2) < 1  # the kernel does not fit
    assert conv_out(5, 3, 2, 0) == 2  # 5 -> 2 drops one pixel (legal)
    assert shapes.dropped_pixels(6, 3, 2, 0) == 1 and shapes.dropped_pixels(5, 3, 2, 0) == 0


def test_conv_transpose_arithmetic():
    assert conv_transpose_out(16, 4, 2, 1) == 32
    assert conv_transpose_out(32, 8, 4, 2) == 128
    assert conv_transpose_out(5, 3, 2, 1, output_padding=1) == 10


def test_auto_padding_is_exact_where_k_minus_s_is_even():
    for k in range(1, 12):
        for s in range(1, k + 1):
            if (k - s) % 2:
                with pytest.raises(ValueError):
                    auto_padding(k, s)
                continue
            p = auto_padding(k, s)
            for n in (s * 3, s * 8):
                assert conv_out(n, k, s, p) == n // s
                assert conv_transpose_out(n, k, s, p) == n * s
    with pytest.raises(ValueError):
        auto_padding(1, 3)


# --- the paper spec --------------------------------------------------------------------------------


def test_paper_flows_512_to_16_and_back():
    spec = archspec.load(PAPER)
    traced = shapes.flow(spec)
    assert traced.problems == []
    assert [r.out_shape[1] for r in traced.networks["recognition"].parts["A"].rows] == [256, 64, 16]
    assert [r.out_shape[1] for r in traced.networks["generator"].parts["A"].rows] == [32, 128, 512]
    assert traced.networks["recognition"].output == (2, 16, 16)
    assert traced.networks["prior"].output == (2, 16, 16)
    assert traced.networks["generator"].output == (1, 512, 512)
    assert traced.networks["generator"].parts["B"].in_shape == (3, 512, 512)


def test_check_does_not_import_torch():
    code = (
        "import sys, archspec.cli\n"
        f"rc = archspec.cli.main(['check', {str(PAPER)!r}])\n"
        "assert rc == 0, rc\n"
        "rc = archspec.cli.main(['show', '--sizes', {0!r}])\n".format(str(PAPER))
        + "assert rc == 0, rc\n"
        "assert 'torch' not in sys.modules, 'archspec check imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- the seed's misprint: generator part A as printed --------------------------------------------

SEED_A = """\
A:
  input: z
  table:
    - [Conv, 1/1, 4, 2, F, T, ReLU]
    - [Conv, 1/1, 8, 4, F, T, ReLU]
    - [Conv, 1/1, 8, 4, F, T, ReLU]   # <- 16 -> 8 -> 2 -> (kernel 8 on 2 + 2*2 pixels)
B:
  input: [A, y]
  table:
    - [Conv, 3/1, 3, 1]"""
PAPER_SHAPES = "{x: [1, 512, 512], y: [2, 512, 512], z: [1, 16, 16]}"
PAPER_LATENT = "A: {input: y, table: [[Conv, 2/8, 4, 2], [Conv, 8/16, 8, 4], [Conv, 16/2, 8, 4]]}"


def test_seed_generator_part_a_as_printed_fails_at_its_third_row():
    text = spec_text(shapes_line=PAPER_SHAPES, recognition=PAPER_LATENT, prior=PAPER_LATENT, generator=SEED_A)
    problem = only(text)  # one root cause: part B (reading A) is skipped, not re-reported
    assert problem.code == "kernel_too_large"
    assert problem.loc == ("model", "networks", "generator", "A", "table", 2)
    assert (problem.line, problem.col) == marked(text)
    assert "16² → 8² → 2² → ✗" in problem.message and "kernel 8" in problem.message
    # the one checked fix: the model card's Conv rows written ConvTransp (no padding or kernel of row 2 flows)
    assert problem.fix == "layer ConvTransp at model.networks.generator.A.table[0], [1] and [2] (lines 16, 17, 18)"


def test_seed_generator_part_a_through_the_cli(tmp_path, capsys):
    text = spec_text(shapes_line=PAPER_SHAPES, recognition=PAPER_LATENT, prior=PAPER_LATENT, generator=SEED_A)
    path = tmp_path / "t.yaml"
    path.write_text(text)
    line, col = marked(text)
    done = subprocess.run([sys.executable, "-m", "archspec", "check", str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"t.yaml:{line}:{col}: error: model.networks.generator.A.table[2]: Conv cannot apply" in done.stderr
    assert "Traceback" not in done.stderr


def test_seed_part_a_if_it_flowed_breaks_the_contract_and_suggests_convtransp():
    generator = """\
    A:   # <-
      input: z
      table:
        - [Conv, 1/1, 4, 2, F, T, ReLU]
        - [Conv, 1/1, 8, 4, F, T, ReLU]
        - [Conv, 1/1, 8, 4, F, T, ReLU, 3]"""
    text = spec_text(shapes_line=PAPER_SHAPES, recognition=PAPER_LATENT, prior=PAPER_LATENT, generator=generator)
    problem = only(text)
    assert problem.code == "contract"
    assert problem.loc == ("model", "networks", "generator")
    assert "[1, 512, 512]" in problem.message and "[1, 1, 1]" in problem.message
    # ConvTransp rows, and row 2's padding 3 (chosen for a Conv) back to auto: 16 -> 32 -> 128 -> 512
    assert problem.fix == (
        "layer ConvTransp at model.networks.generator.A.table[0] and [1] (lines 16, 17), "
        "and layer ConvTransp, padding auto at model.networks.generator.A.table[2] (line 18)"
    )


# --- one test per kind of error -----------------------------------------------------------------


def test_wrong_channels_in_names_the_incoming_channels_and_the_fix():
    text = spec_text(
        prior="""\
    A:
      input: y
      table:
        - [Conv, 2/32, 3, 1]
        - [Conv, 16/8, 3, 1]   # <-
        - [Conv, 8/2, 4, 4]"""
    )
    problem = only(text)
    assert problem.code == "channels_in"
    assert problem.loc == ("model", "networks", "prior", "A", "table", 1, "channels")
    assert "row says 16 channels in, the incoming tensor has 32" in problem.message
    assert "write 32/8" in problem.fix
    line, _ = marked(text)
    assert (problem.line, problem.col) == (line, marked(text, "16/8")[1])


def test_concatenation_of_different_sizes():
    text = spec_text(
        recognition="""\
    A: {input: x, table: [[Conv, 1/4, 4, 2]]}
    B:
      input: [A, y]   # <-
      table: [[Conv, 6/2, 4, 4]]"""
    )
    problem = only(text)
    assert problem.code == "concat_size"
    assert problem.loc == ("model", "networks", "recognition", "B", "input", 1)
    assert "y is 8², A is 4²" in problem.message
    line, _ = marked(text)
    assert (problem.line, problem.col) == (line, marked(text, "y]")[1])


def test_residual_block_whose_table_changes_the_shape():
    blocks = """\
    Down:
      residual: T
      table:
        - [Conv, 3, 4, 2]"""
    text = spec_text(
        blocks=blocks,
        recognition="""\
    A:
      input: [x, y]
      table:
        - {block: Down, repeat: 2}   # <-
        - [Conv, 3/2, 4, 4]""",
    )
    problem = only(text)
    assert problem.code == "residual_shape"
    assert problem.loc == ("model", "networks", "recognition", "A", "table", 0)
    assert "[3, 8, 8] into [3, 4, 4]" in problem.message and "row 0" in problem.message
    assert (problem.line, problem.col) == marked(text, "{")


def test_odd_kernel_minus_stride_with_auto_padding_lists_explicit_choices():
    text = spec_text(
        prior="""\
    A:
      input: y
      table:
        - [Conv, 2/2, 4, 1]   # <-
        - [Conv, 2/2, 4, 4]"""
    )
    problem = only(text)
    assert problem.code == "auto_padding"
    assert "(4 − 1) / 2" in problem.message
    # explicit paddings give 7 or 9, which the next row (kernel 4, stride 4) reads with pixels left over: not offered
    assert problem.fix == "kernel 3 (8² → 8²); or kernel 5 (8² → 8²); or kernel 1 (8² → 8²)"
    assert (problem.line, problem.col) == marked(text)


def test_output_padding_must_be_below_the_stride():
    text = spec_text(
        generator="""\
    A:
      input: z
      table:
        - {layer: ConvTransp, channels: 1/1, kernel: 4, stride: 4, output_padding: 4}   # <-
    B: {input: [A, y], table: [[Conv, 3/1, 3, 1]]}"""
    )
    problem = only(text)
    assert problem.code == "output_padding"
    assert problem.loc[-1] == "output_padding"
    assert "output_padding=4, stride=4" in problem.message and problem.fix == "remove output_padding (2² → 8²)"
    assert (problem.line, problem.col) == marked(text, "4}")


def test_transposed_layer_without_output():
    text = spec_text(
        generator="""\
    A:
      input: z
      table:
        - [ConvTransp, 1/1, 2, 1, F, T, ReLU, 2]   # <-
    B: {input: [A, y], table: [[Conv, 3/1, 3, 1]]}"""
    )
    problem = only(text)
    assert problem.code == "no_output" and "(2 − 1)·1 − 2·2 + 2 + 0 = -1" in problem.message
    # 2 -> 8 takes two cells: no one-cell edit flows, and a stride alone gives a size the next part
    # refuses; the two-step search finds stride and kernel together: (2 − 1)·4 − 2·2 + 8 = 8
    assert problem.fix == "stride 4, kernel 8"
    assert (problem.line, problem.col) == marked(text)
    fixed = text.replace("[ConvTransp, 1/1, 2, 1, F, T, ReLU, 2]", "[ConvTransp, 1/1, 8, 4, F, T, ReLU, 2]")
    assert archspec.loads(fixed)  # flows


def test_contract_prior_gives_the_wrong_channel_count():
    text = spec_text(
        prior="""\
    A:
      input: y
      table:
        - [Conv, 2/3, 4, 4]   # <-"""
    )
    problem = only(text)
    assert problem.code == "contract"
    assert problem.loc == ("model", "networks", "prior", "A", "table", 0, "channels")
    assert "2·C_z = 2 channels" in problem.message and "gives 3 channels" in problem.message
    assert problem.fix == "write 2/2"
    assert (problem.line, problem.col) == marked(text, "2/3")


def test_contract_prior_gives_the_wrong_size():
    text = spec_text(
        prior="""\
    A: {input: y, table: [[Conv, 2/2, 4, 2]]}"""
    )
    problem = only(text)
    assert problem.code == "contract" and problem.loc == ("model", "networks", "prior")
    assert "[2, 2, 2]" in problem.message and "[2, 4, 4]" in problem.message
    assert problem.fix == "stride 4 at model.networks.prior.A.table[0] (line 11) (8² → 2²)"


def test_one_problem_per_root_cause_but_every_network_is_checked():
    text = spec_text(
        prior="""\
        A: {input: y, table: [[Conv, 5/2, 4, 4], [Conv, 7/2, 1, 1]]}   # <-""",
        recognition="""\
        A: {input: x, table: [[Conv, 9/2, 4, 4]]}
        B: {input: [A, y], table: [[Conv, 4/2, 1, 1]]}""",
    )
    found = problems(text)
    assert [(p.code, p.loc[2]) for p in found] == [("channels_in", "recognition"), ("channels_in", "prior")]


def test_block_error_points_at_the_row_that_applies_the_block_and_names_the_block_row():
    blocks = """\
    Bad:
      table:
        - [Conv, 7/3, 1, 1]"""
    text = spec_text(
        blocks=blocks,
        recognition="""\
    A:
      input: [x, y]
      table:
        - [Conv, 3/2, 4, 4]
        - {block: Bad}   # <-""",
    )
    problem = only(text)
    assert problem.code == "channels_in"
    assert problem.loc == ("model", "networks", "recognition", "A", "table", 1)
    assert (problem.line, problem.col) == marked(text, "{")
    assert "block Bad, repetition 1 of 1, row 0 (model.blocks.Bad.table[0])" in problem.message


def test_dropped_pixels_are_legal_and_traced():
    text = spec_text(
        shapes_line="{x: [1, 9, 9], y: [2, 9, 9], z: [1, 2, 2]}",
        recognition="A: {input: [x, y], table: [[Conv, 3/2, 4, 4]]}",
        prior="A: {input: y, table: [[Conv, 2/2, 4, 4]]}",
        generator="A: {input: z, table: [[ConvTransp, 1/1, 5, 4, F, T, ReLU, 0]]}",
    )
    spec = archspec.loads(text)
    row = shapes.flow(spec).networks["prior"].rows[0]
    assert row.out_shape == (2, 2, 2) and row.dropped == (1, 1)


def test_valid_sizes_of_the_paper_are_the_multiples_of_32():
    spec = archspec.load(PAPER)
    assert show.valid_sizes(spec, range(8, 1100)) == list(range(32, 1100, 32))
