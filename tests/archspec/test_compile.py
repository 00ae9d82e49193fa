"""The compiler, held against the static checker: for random specs the checker accepts exactly
when the compiled module runs, every static shape is the shape torch produces, and every static
parameter count is ``sum(p.numel())``. Then the paper model's contract and module names."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, example, given, reject, settings
from hypothesis import strategies as st
from torch import nn

import archspec
from archspec import compile as compiler
from archspec.checking import semantics, shapes
from archspec.language.errors import SpecError
from archspec.language.kinds.cvae import CVAEOutput
from archspec.language.registry import ACTIVATIONS, LAYERS
from archspec.language.spec import Spec

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "specs" / "paper_cvae.yaml"
INPUTS = {"recognition": ("x", "y"), "prior": ("y",), "generator": ("z", "y")}
FLAGS = st.sampled_from([True, False, "T", "F"])


# --- random specs ----------------------------------------------------------------------------------


@st.composite
def defaults(draw) -> dict:
    out = {}
    for column, values in (
        ("bias", FLAGS),
        ("batchnorm", FLAGS),
        ("activation", st.sampled_from(ACTIVATIONS.names())),
        ("padding", st.one_of(st.just("auto"), st.integers(0, 2))),
    ):
        if draw(st.booleans()):
            out[column] = draw(values)
    return out


@st.composite
def layer_row(draw, incoming: int | None, keep_size: bool, c_out: int | None = None) -> tuple[object, int]:
    """A row, as a mapping or a flow list, and its channels out. ``keep_size``: stride 1, odd
    kernel, auto padding (the size stays), so that the contract can hold."""
    layer = draw(st.sampled_from(LAYERS.names()))
    kernel = draw(st.sampled_from([1, 3, 5]) if keep_size else st.integers(1, 5))
    stride = 1 if keep_size else draw(st.integers(1, 3))
    out = c_out if c_out is not None else draw(st.integers(1, 4))
    if keep_size:  # channels in as the flow has them, or left to the input
        c_in = incoming if draw(st.booleans()) else None
    elif incoming is not None and draw(st.integers(0, 9)):
        c_in = incoming
    else:
        c_in = draw(st.one_of(st.none(), st.none(), st.integers(1, 4)))
    row: dict = {
        "layer": layer,
        "channels": f"{'' if c_in is None else c_in}/{out}",
        "kernel": kernel,
        "stride": stride,
    }
    for column, values in (("bias", FLAGS), ("batchnorm", FLAGS), ("activation", st.sampled_from(ACTIVATIONS.names()))):
        if draw(st.booleans()):
            row[column] = draw(values)
    if keep_size:
        row["padding"] = "auto"
    elif draw(st.booleans()):
        row["padding"] = draw(st.one_of(st.just("auto"), st.integers(0, 3)))
    if (
        not keep_size and draw(st.integers(0, 3 if layer == "ConvTransp" else 19)) == 0
    ):  # a Conv has none: both refuse it
        row["output_padding"] = draw(st.integers(0, 2))
    if "output_padding" not in row and draw(st.booleans()):  # the seed's flow-list form
        row = [
            row["layer"],
            row["channels"],
            row["kernel"],
            row["stride"],
            row.get("bias"),
            row.get("batchnorm"),
            row.get("activation"),
            row.get("padding"),
        ]
        while row[-1] is None:
            row.pop()
    return row, out


@st.composite
def blocks(draw, keep_size: bool) -> dict:
    """Zero to two blocks; the second may apply the first."""
    found: dict = {}
    for name in ("Blk0", "Blk1")[: draw(st.integers(0, 2))]:
        channels = draw(st.integers(1, 3))
        table, c = [], None  # the first row takes its channels from the input, mostly
        n_rows = draw(st.integers(1, 2))
        for j in range(n_rows):
            if found and draw(st.booleans()):
                table.append({"block": draw(st.sampled_from(list(found))), "repeat": draw(st.integers(1, 2))})
                c = None
            else:
                last = j == n_rows - 1
                row, c = draw(layer_row(c, keep_size or draw(st.booleans()), c_out=channels if last else None))
                table.append(row)
        block: dict = {"residual": draw(FLAGS), "table": table}
        if draw(st.booleans()):
            block["activation"] = draw(st.sampled_from(ACTIVATIONS.names()))
        if draw(st.booleans()):
            block["defaults"] = draw(defaults())
        found[name] = block
    return found


def block_channels(blocks: dict, name: str, c: int) -> int:
    for row in blocks[name]["table"]:
        if isinstance(row, dict) and "block" in row:
            for _ in range(row["repeat"]):
                c = block_channels(blocks, row["block"], c)
        else:
            c = int((row["channels"] if isinstance(row, dict) else row[1]).split("/")[1])
    return c


@st.composite
def network(draw, allowed: tuple[str, ...], channels: dict, blocks: dict, keep_size: bool, target: int) -> dict:
    names = ["A", "B", "C"][: draw(st.integers(1, 3))]
    channels = dict(channels)
    net: dict = {}
    for i, name in enumerate(names):
        sources = list(allowed) + names[:i]
        inputs = draw(st.lists(st.sampled_from(sources), min_size=1, max_size=2, unique=True))
        c = sum(channels[s] for s in inputs)
        table = []
        n_rows = draw(st.integers(1, 3))
        for j in range(n_rows):
            if blocks and draw(st.integers(0, 3)) == 0:
                row = {"block": draw(st.sampled_from(list(blocks))), "repeat": draw(st.integers(1, 2))}
                c = block_channels(blocks, row["block"], c)
            else:
                wanted = (
                    target if keep_size and name == names[-1] and j == n_rows - 1 and draw(st.integers(0, 4)) else None
                )
                row, c = draw(layer_row(c, keep_size, c_out=wanted))
            table.append(row)
        part: dict = {"input": inputs if len(inputs) > 1 or draw(st.booleans()) else inputs[0], "table": table}
        if draw(st.booleans()):
            part["defaults"] = draw(defaults())
        channels[name] = c
        net[name] = part
    if not keep_size and len(names) > 1 and draw(st.booleans()):
        net["output"] = draw(st.sampled_from(names))
    return net


@st.composite
def spec_dicts(draw) -> dict:
    """A random cvae spec that passes the semantic checks; its shapes may or may not flow."""
    keep_size = draw(st.integers(0, 2)) == 0  # a third keep every size, so that the contract can hold
    side = st.integers(1, 8)
    hx = draw(side)
    wx = hx if draw(st.integers(0, 3)) else draw(side)
    sizes = {"x": (hx, wx)}
    for t in ("y", "z"):
        sizes[t] = (hx, wx) if keep_size or draw(st.integers(0, 2)) else (draw(side), draw(side))
    channels = {t: draw(st.integers(1, 3)) for t in ("x", "y", "z")}
    found_blocks = draw(blocks(keep_size))
    targets = {"recognition": 2 * channels["z"], "prior": 2 * channels["z"], "generator": channels["x"]}
    model: dict = {
        "kind": "cvae",
        "shapes": {t: [channels[t], *sizes[t]] for t in ("x", "y", "z")},
        "defaults": draw(defaults()),
        "networks": {
            name: draw(network(INPUTS[name], channels, found_blocks, keep_size, targets[name])) for name in INPUTS
        },
    }
    if found_blocks:
        model["blocks"] = found_blocks
    return {"archspec": 1, "name": "random", "model": model}


SMALL = """
archspec: 1
name: small
model:
  kind: cvae
  shapes: {x: [1, 8, 8], y: [2, 8, 8], z: [1, 8, 8]}
  defaults: {bias: F, batchnorm: T, activation: ReLU}
  blocks:
    Res:
      residual: T
      activation: PReLU
      table: [[Conv, 3/3, 3, 1], [Conv, 3/3, 3, 1, F, F, none]]
  networks:
    recognition: {A: {input: [x, y], table: [[Conv, 3/2, 1, 1, T]]}}
    prior: {A: {input: y, defaults: {bias: T}, table: [[Conv, 2/2, 3, 1, F, T, Tanh]]}}
    generator: {A: {input: [z, y], table: [{block: Res, repeat: 2}, [Conv, 3/1, 3, 1]]}}
"""


# --- running a network in torch ---------------------------------------------------------------------


def run_network(spec: Spec, name: str) -> tuple[bool, dict, nn.Module | None]:
    """Build and run one network on random (2, C, H, W) inputs. Returns (ran, shapes seen by
    module path, module). "Ran" means no error and no empty tensor: torch lets a ConvTranspose2d
    give 0 pixels, which no later layer can use; the checker calls that an error."""
    try:
        net = compiler.build_network(spec, name)
    except ValueError:  # e.g. padding auto where kernel - stride is odd: nothing to build
        return False, {}, None
    seen: dict[str, tuple] = {}
    for path, module in net.named_modules():
        if path:
            module.register_forward_hook(_recorder(seen, path))
            module.register_forward_pre_hook(_limit)
    inputs = {t: torch.randn(2, *spec.model.shapes[t]) for t in net.reads}
    try:
        with torch.no_grad():
            out = net(**inputs)
    except (RuntimeError, ValueError):
        return False, seen, net
    if any(min(shape[1][1:]) < 1 for shape in seen.values()):
        return False, seen, net
    seen[""] = (None, tuple(out.shape[1:]))
    return True, seen, net


class TooBig(Exception):
    """A random spec grew a tensor past what keeps the test fast (the verdict does not depend on it)."""


MAX_VALUES = 2 * 4 * 64 * 64


def _limit(module, args):
    if args[0].numel() > MAX_VALUES:
        raise TooBig


def _recorder(seen: dict, path: str):
    def hook(module, args, output):
        seen[path] = (tuple(args[0].shape[1:]), tuple(output.shape[1:]))

    return hook


def all_traces(rows):
    for row in rows:
        yield row
        yield from all_traces(row.inner)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors of ever-new shapes: one thread is ten times faster than several."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(spec_dicts())
@example(yaml.safe_load(SMALL))
def test_checker_accepts_exactly_what_torch_runs_with_the_same_shapes_and_parameters(one_thread, data):
    spec = Spec.model_validate(data)
    assert semantics.check(spec) == []
    traced = shapes.flow(spec, contract=False)
    failed = {p.loc[2] for p in traced.problems}
    outputs = {}
    for name, trace in traced.networks.items():
        try:
            ran, seen, net = run_network(spec, name)
        except TooBig:
            reject()
        event(f"{name} {'flows' if ran else 'fails'}")
        assert ran == (name not in failed), (name, [p.format() for p in traced.problems])
        if not ran:
            continue
        for row in all_traces(trace.rows):
            path = ".".join([row.part, *map(str, row.index)])
            assert seen[path] == (row.in_shape, row.out_shape), path
        for part in trace.parts.values():
            assert seen[part.name] == (part.in_shape, part.out_shape)
        assert seen[""][1] == trace.output
        assert sum(p.numel() for p in net.parameters()) == trace.params
        outputs[name] = trace.output
    if len(outputs) == 3:  # every network runs: the contract holds exactly when torch's outputs agree
        x, z = spec.model.shapes["x"], spec.model.shapes["z"]
        latent = (2 * z[0], z[1], z[2])
        meets = outputs == {"recognition": latent, "prior": latent, "generator": tuple(x)}
        event(f"contract {'holds' if meets else 'fails'}")
        assert (shapes.check(spec) == []) == meets


# --- registries ------------------------------------------------------------------------------------


def test_a_registry_builds_only_its_names_and_says_which_lack_a_builder():
    from archspec.language.registry import Registry, UnknownName

    reg = Registry("thing")
    reg.register("a")("entry a")
    reg.register("b")("entry b")
    reg.builds("a")(lambda: "built a")
    assert reg.builder("a")() == "built a" and reg.without_builder() == ["b"]
    with pytest.raises(LookupError, match="'b' is registered but nothing builds it"):
        reg.builder("b")
    with pytest.raises(UnknownName):
        reg.builds("c")
    with pytest.raises(ValueError, match="two builders"):
        reg.builds("a")(lambda: None)


def test_every_name_the_checker_accepts_has_a_builder():
    assert compiler.LAYERS is LAYERS and LAYERS.without_builder() == [] and ACTIVATIONS.without_builder() == []
    assert isinstance(LAYERS.builder("Conv")(2, 3, 5, 1, 2, 0, False), torch.nn.Conv2d)
    assert isinstance(LAYERS.builder("ConvTransp")(2, 3, 4, 2, 1, 0, False), torch.nn.ConvTranspose2d)


def test_activations_are_as_the_original():
    assert ACTIVATIONS.builder("PReLU")().weight.numel() == 1
    assert ACTIVATIONS.builder("Softplus")().beta == 1
    assert ACTIVATIONS.builder("none")() is None


# --- the paper model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper():
    spec = archspec.load(PAPER)
    torch.manual_seed(0)
    return spec, archspec.build(spec)


def test_paper_parameter_counts_equal_the_static_ones(paper):
    spec, model = paper
    traced = shapes.flow(spec)
    for name in ("recognition", "prior", "generator"):
        assert sum(p.numel() for p in getattr(model, name).parameters()) == traced.networks[name].params
    assert sum(p.numel() for p in model.parameters()) == traced.params == 1_662_961


def test_paper_forward_on_512(paper):
    spec, model = paper
    x, y = torch.randn(2, 1, 512, 512), torch.rand(2, 2, 512, 512)
    with torch.no_grad():
        out = model(x, y)
    assert isinstance(out, CVAEOutput)
    assert out.z.shape == (2, 1, 16, 16)
    assert out.x_mean.shape == (2, 1, 512, 512)
    for t in (out.q_mean, out.q_logvar, out.p_mean, out.p_logvar):
        assert t.shape == (2, 1, 16, 16)


def test_paper_module_names_read_like_the_spec(paper):
    _, model = paper
    keys = set(model.state_dict())
    for key in (
        "generator.B.3.conv.weight",
        "generator.B.3.bn.running_mean",
        "generator.B.4.0.1.conv.weight",
        "generator.B.4.3.1.bn.weight",
        "generator.B.8.act.weight",
        "recognition.C.0.conv.weight",
        "prior.A.3.bn.bias",
    ):
        assert key in keys, key
    assert not any(key.endswith("conv.bias") for key in keys)  # the paper's tables say F
    assert isinstance(model.generator.A[0].conv, nn.ConvTranspose2d) and isinstance(
        model.generator.B[10].conv, nn.Conv2d
    )
    assert isinstance(model.generator.B[10].act, nn.Softplus)


def test_cvae_reparameterises_and_paints(paper):
    _, model = paper
    model.eval()
    x, y = torch.randn(1, 1, 64, 64), torch.rand(1, 2, 64, 64)
    with torch.no_grad():
        torch.manual_seed(3)
        out = model(x, y)
        torch.manual_seed(3)
        eps = torch.randn_like(out.q_mean)
        assert torch.allclose(out.z, out.q_mean + eps * (torch.exp(out.q_logvar / 2) + 1e-7))
        raw = compiler.build_network(archspec.load(PAPER), "prior")  # the undivided 2·C_z channels
        raw.load_state_dict(model.prior.state_dict())
        raw.eval()
        both = raw(y=y)
        assert torch.equal(out.p_mean, both[:, :1]) and torch.equal(out.p_logvar, both[:, 1:])
    model.train()


def test_state_dict_and_pickle_round_trip(paper):
    spec, model = paper
    torch.manual_seed(1)
    other = archspec.build(spec)
    other.load_state_dict(model.state_dict())
    again = pickle.loads(pickle.dumps(model))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    y = torch.rand(1, 2, 32, 32)
    with torch.no_grad():
        for m in (model, other, again):
            m.eval()
        painted = [m.generator(z=m.prior(y=y)[0], y=y) for m in (model, other, again)]  # at the prior's mean
        assert torch.equal(painted[0], painted[1]) and torch.equal(painted[0], painted[2])
    model.train()


def test_network_takes_the_model_tensors_by_keyword(paper):
    _, model = paper
    with pytest.raises(TypeError, match="missing"):
        model.generator(z=torch.randn(1, 1, 2, 2))
    with pytest.raises(TypeError, match="unknown"):
        model.prior(y=torch.randn(1, 2, 64, 64), w=torch.randn(1))


# --- rows and blocks ---------------------------------------------------------------------------------


def test_row_is_layer_then_batchnorm_then_activation_and_bias_only_where_written():
    model = archspec.build(archspec.loads(SMALL))
    row = model.prior.A[0]
    assert (
        row.conv.bias is None and isinstance(row.bn, nn.BatchNorm2d) and isinstance(row.act, nn.Tanh)
    )  # row F beats part T
    assert model.recognition.A[0].conv.bias is not None
    row.eval()
    x = torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(row(x), torch.tanh(row.bn(row.conv(x))))


def test_residual_block_is_act_of_x_plus_table():
    model = archspec.build(archspec.loads(SMALL))
    block = model.generator.A[0][1]
    block.eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        table = block._modules["1"](block._modules["0"](x))
        assert torch.equal(block(x), block.act(x + table))
    assert isinstance(block.act, nn.PReLU) and block.act.weight.numel() == 1
    assert not hasattr(block._modules["1"], "bn") or block._modules["1"].bn is None


def test_build_checks_the_spec_first():
    data = archspec.loads(SMALL).model_dump(by_alias=True)
    data["model"]["networks"]["prior"]["A"]["table"][0]["channels"] = {"in": 5, "out": 2}
    bad = Spec.model_validate(data)
    with pytest.raises(SpecError) as info:
        archspec.build(bad)
    assert info.value.problems[0].code == "channels_in"
    with pytest.raises(RuntimeError):  # without the check, torch finds the same mistake later
        compiler.build(bad, check=False).prior(y=torch.randn(1, 2, 8, 8))


def test_paper_resblock_is_relu_of_x_plus_bn_conv_relu_bn_conv(paper):
    """Each of the generator's residual blocks against a hand-written functional oracle
    ReLU(x + BN2(Conv2(ReLU(BN1(Conv1(x)))))), in eval mode with running statistics and affine
    parameters far from the identity, so that skipping either BatchNorm (or the ReLU between
    the convolutions, or the addition) changes the result."""
    import torch.nn.functional as F

    _, model = paper
    model.eval()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 128, 8, 8, generator=g)
    with torch.no_grad():
        for rep in range(4):
            block = model.generator.B[4][rep]
            rows = [block.get_submodule(str(i)) for i in (0, 1)]
            convs, bns = [row.conv for row in rows], [row.bn for row in rows]
            assert all(
                isinstance(bn, nn.BatchNorm2d) for bn in bns
            )  # BatchNorm on both convolutions, as the table says
            for bn in bns:
                bn.running_mean.copy_(torch.randn(128, generator=g))
                bn.running_var.copy_(torch.rand(128, generator=g) * 3 + 0.5)
                bn.weight.copy_(torch.randn(128, generator=g))
                bn.bias.copy_(torch.randn(128, generator=g))

            def bn(i, h, bns=bns):
                return F.batch_norm(
                    h,
                    bns[i].running_mean,
                    bns[i].running_var,
                    bns[i].weight,
                    bns[i].bias,
                    False,
                    0.0,
                    bns[i].eps,
                )

            h = F.relu(bn(0, F.conv2d(x, convs[0].weight, padding=1)))
            expected = F.relu(x + bn(1, F.conv2d(h, convs[1].weight, padding=1)))
            torch.testing.assert_close(block(x), expected)
    model.train()
