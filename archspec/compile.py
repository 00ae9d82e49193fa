"""Spec -> ``torch.nn.Module``: the only module of :mod:`archspec` that imports torch.

Module names follow the spec, so a state dict reads like the spec's tables::

    generator.B.3.conv.weight         part B of the generator, row 3: its Conv2d / ConvTranspose2d
    generator.B.3.bn.running_mean     ... its BatchNorm2d (present where batchnorm is T)
    generator.B.8.act.weight          ... its activation (PReLU has one parameter)
    generator.B.4.0.1.conv.weight     row 4 is a block: repetition 0, block row 1
    generator.B.4.0.act               the block's activation after the residual add

A row runs layer -> BatchNorm -> activation. A residual block computes act(x + table(x)).
Layer and activation classes come from the registries below, keyed by the names of
:data:`archspec.language.registry.LAYERS` and :data:`archspec.language.registry.ACTIVATIONS`: the
compiler attaches a builder to each name there, and refuses to load if a name has none; a spec
never names a torch attribute. Weights keep PyTorch's default initialisation unless a row's
``init`` says otherwise (:data:`archspec.language.registry.INITS`); a row with ``spectral_norm``
has its weight parametrised by :func:`torch.nn.utils.parametrizations.spectral_norm` (its state
dict then holds ``conv.parametrizations.weight.original`` and the power iteration's ``_u``, ``_v``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.fusion import fuse_conv_bn_weights

from archspec.checking.arith import auto_padding
from archspec.language.kinds import KINDS, Kind
from archspec.language.registry import ACTIVATIONS, INITS, LAYERS
from archspec.language.resolve import Resolved, block_chain, part_chain, resolve
from archspec.language.spec import BlockRow, Defaults, LayerRow, Spec

# --- torch-side registries ---------------------------------------------------------------------

LayerBuilder = Callable[..., nn.Module]  # c_in, c_out, kernel, stride, padding, output_padding, bias, padding_mode=
ActivationBuilder = Callable[[], nn.Module | None]


@LAYERS.builds("Conv")
def _conv(
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int,
    padding: int,
    output_padding: int,
    bias: bool,
    padding_mode: str = "zeros",
) -> nn.Module:
    if output_padding:
        raise ValueError(f"output_padding applies to ConvTransp only; found output_padding={output_padding} on a Conv")
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias, padding_mode=padding_mode)


@LAYERS.builds("ConvTransp")
def _conv_transpose(
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int,
    padding: int,
    output_padding: int,
    bias: bool,
    padding_mode: str = "zeros",
) -> nn.Module:
    if padding_mode != "zeros":  # the checker says so at the row (archspec.checking.semantics)
        raise ValueError(f"a ConvTransp pads with zeros only; found padding_mode={padding_mode!r}")
    return nn.ConvTranspose2d(
        c_in, c_out, kernel, stride=stride, padding=padding, output_padding=output_padding, bias=bias
    )


def _register_activations() -> None:
    """Each activation name -> a zero-argument builder (classes or functools-free callables,
    so that a built module pickles)."""
    builders: dict[str, ActivationBuilder] = {
        "none": _none,
        "ReLU": nn.ReLU,
        "PReLU": _prelu,  # one parameter shared by all channels, as in the original
        "Softplus": _softplus,
        "LeakyReLU": nn.LeakyReLU,  # LeakyReLU(0.2): the registry binds the slope (default 0.01)
        "ELU": nn.ELU,
        "GELU": nn.GELU,
        "SiLU": nn.SiLU,
        "Tanh": nn.Tanh,
        "Sigmoid": nn.Sigmoid,
    }
    for name, builder in builders.items():
        ACTIVATIONS.builds(name)(builder)


def _none() -> None:
    return None


def _prelu() -> nn.Module:
    return nn.PReLU(num_parameters=1)


def _softplus() -> nn.Module:
    return nn.Softplus(beta=1)


_register_activations()


# An initialiser takes (weight, activation as written) and, where it has a number, the number.
@INITS.builds("torch")
def _init_torch(weight: Tensor, activation: str) -> None:
    """torch's own initialisation, done when the layer was made: nothing to do."""


@INITS.builds("kaiming")
def _init_kaiming(weight: Tensor, activation: str) -> None:
    name, slope = ACTIVATIONS.split(activation)
    if name == "LeakyReLU":
        nn.init.kaiming_normal_(weight, a=slope, nonlinearity="leaky_relu")
    elif name in ("ReLU", "PReLU"):  # PReLU starts at slope 0.25: He et al.'s own case, a = 0.25
        nn.init.kaiming_normal_(weight, a=0.25 if name == "PReLU" else 0.0, nonlinearity="leaky_relu")
    else:
        nn.init.kaiming_normal_(weight, nonlinearity="linear")


@INITS.builds("xavier")
def _init_xavier(weight: Tensor, activation: str, gain: float) -> None:
    nn.init.xavier_normal_(weight, gain=gain)


_MISSING = LAYERS.without_builder() + ACTIVATIONS.without_builder() + INITS.without_builder()
if _MISSING:  # a name the checker accepts must build
    raise RuntimeError(f"nothing builds {_MISSING}")


# --- modules -------------------------------------------------------------------------------------


class Row(nn.Module):
    """One table row: ``conv`` (Conv2d or ConvTranspose2d), then ``bn``, then ``act``."""

    def __init__(self, r: Resolved, c_in: int):
        super().__init__()
        padding = auto_padding(r.kernel, r.stride) if r.padding == "auto" else int(r.padding)
        self.conv = LAYERS.builder(r.layer)(
            c_in,
            r.c_out,
            r.kernel,
            r.stride,
            padding,
            r.output_padding,
            r.bias,
            **({"padding_mode": r.padding_mode} if r.padding_mode != "zeros" else {}),
        )
        with torch.no_grad():
            INITS.builder(r.init)(self.conv.weight, r.activation)
        if r.spectral_norm:  # after the initialisation: it parametrises the weight as it starts
            self.conv = nn.utils.parametrizations.spectral_norm(self.conv)
        self.bn = nn.BatchNorm2d(r.c_out) if r.batchnorm else None
        self.act = ACTIVATIONS.builder(r.activation)()

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)  # (N, C_out, H', W')
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x


class Block(nn.Module):
    """One application of a block: rows ``0``, ``1``, ... then ``act``; with ``residual``,
    act(x + table(x)). Shapes must agree exactly: torch would broadcast, a block never does."""

    def __init__(self, rows: list[nn.Module], residual: bool, act: nn.Module | None, name: str):
        super().__init__()
        for i, row in enumerate(rows):
            self.add_module(str(i), row)
        self.n_rows = len(rows)
        self.residual = residual
        self.act = act
        self.block_name = name

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for i in range(self.n_rows):
            h = self._modules[str(i)](h)
        if self.residual:
            if h.shape != x.shape:
                raise RuntimeError(
                    f"residual block {self.block_name}: its table turns {tuple(x.shape)} into {tuple(h.shape)}; x "
                    "+ table(x) needs equal shapes"
                )
            h = x + h  # (N, C, H, W)
        return self.act(h) if self.act is not None else h


class Part(nn.Sequential):
    """A lettered part: its input (concatenated along channels when a list), then its rows."""

    def __init__(self, inputs: list[str], rows: list[nn.Module]):
        super().__init__(*rows)
        self.inputs = list(inputs)


class Network(nn.Module):
    """A network whose forward takes the model tensors by keyword: ``generator(z=z, y=y)``.

    Parts are submodules named as in the spec (``A``, ``B``, ...). With ``gaussian`` the output's
    channels are split in halves and returned as ``(mean, logvar)``.
    """

    def __init__(
        self, name: str, parts: dict[str, Part], output: str, accepts: tuple[str, ...], gaussian: bool = False
    ):
        super().__init__()
        self.network_name = name
        self.part_names = list(parts)
        self.output = output
        self.accepts = tuple(accepts)  # the model tensors this network may be given
        self.reads = tuple(dict.fromkeys(s for p in parts.values() for s in p.inputs if s not in parts))
        self.gaussian = gaussian
        for part_name, part in parts.items():
            if hasattr(self, part_name):
                raise ValueError(
                    f"network {name}: a part may not be named {part_name!r} (an attribute of the compiled module)"
                )
            self.add_module(part_name, part)

    def forward(self, **tensors: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        values = self._run(tensors, None)
        out = values[self.output]
        if self.gaussian:
            mean, logvar = out.chunk(2, dim=1)  # (N, C_z, H_z, W_z) each
            return mean, logvar
        return out

    def features(self, **tensors: Tensor) -> list[Tensor]:
        """The output of every top-level row of every part, in the order they run (a block row
        gives its last repetition's output); the network's output last when its output part is
        the last part. A GAN's perceptual (feature-matching) term compares these."""
        rows: list[Tensor] = []
        self._run(tensors, rows)
        return rows

    def _run(self, tensors: dict, rows: list | None) -> dict[str, Tensor]:
        unknown = [k for k in tensors if k not in self.accepts]
        missing = [k for k in self.reads if k not in tensors]
        if unknown or missing:
            raise TypeError(
                f"{self.network_name}() takes {', '.join(f'{t}=' for t in self.reads)}; "
                + (f"missing {missing}" if missing else f"unknown {unknown}")
            )
        values: dict[str, Tensor] = dict(tensors)
        for name in self.part_names:
            part: Part = self._modules[name]  # type: ignore[assignment]
            sources = [values[s] for s in part.inputs]
            x = sources[0] if len(sources) == 1 else torch.cat(sources, dim=1)  # (N, sum C, H, W)
            if rows is None:
                values[name] = part(x)
                continue
            for row in part:
                x = row(x)
                rows.append(x)
            values[name] = x
        return values


class Model(nn.Module):
    """A compiled spec: its networks as submodules named as in the spec (``recognition``,
    ``prior``, ``generator`` for a cvae), run by the model kind's ``forward``
    (:mod:`archspec.language.kinds`). ``model.kind`` is the kind's declaration."""

    def __init__(self, kind: Kind, networks: dict[str, Network]):
        super().__init__()
        self.kind_name = kind.name  # the name, not the declaration: a built model pickles
        for name, network in networks.items():
            self.add_module(name, network)

    @property
    def kind(self) -> Kind:
        return KINDS.get(self.kind_name)

    def forward(self, *args: Tensor, **tensors: Tensor):
        return self.kind.forward(self, *args, **tensors)


# --- building ----------------------------------------------------------------------------------


def build(spec: Spec, *, check: bool = True) -> Model:
    """Compile ``spec`` into a :class:`Model` of its kind.

    Args:
        spec: a spec, as :func:`archspec.load` returns it.
        check: run the semantic and shape checks first and raise
            :class:`~archspec.language.errors.SpecError` on any problem (default), unless ``spec`` is
            one that :func:`archspec.load` (or ``loads``, ``load_saved``) returned: those were
            checked, and are trusted. ``check=False`` builds whatever the spec says, and torch
            decides (the tests use it to compare).
    """
    from archspec.checking.load import check_spec, is_checked

    if check and not is_checked(spec):
        from archspec.language.errors import SpecError

        problems = check_spec(spec)
        if problems:
            raise SpecError(problems)
    kind = KINDS.get(spec.model.kind)
    return Model(kind, {role.name: build_network(spec, role.name, gaussian=role.gaussian) for role in kind.roles})


def build_network(spec: Spec, name: str, gaussian: bool = False) -> Network:
    """One network of ``spec`` as a :class:`Network`; channels in come from the flow."""
    network = spec.model.networks[name]
    channels = {t: shape[0] for t, shape in spec.model.shapes.items()}
    parts: dict[str, Part] = {}
    for part_name, part in network.parts.items():
        c = sum(channels[s] for s in part.inputs)
        rows, c = _rows(spec, part.table, part_chain(spec, name, part_name), c)
        channels[part_name] = c
        parts[part_name] = Part(part.inputs, rows)
    accepts = KINDS.get(spec.model.kind).reads(name, spec.model.shapes)
    return Network(name, parts, network.output_part, accepts, gaussian)


def _rows(spec: Spec, table: list, chain: tuple[Defaults, ...], c: int) -> tuple[list[nn.Module], int]:
    """The modules of a table and the channels it gives, starting from ``c`` channels.

    A row's written ``in`` channels are used as written (where they disagree with the incoming
    tensor, torch raises at the first forward, as the checker predicts)."""
    modules: list[nn.Module] = []
    for row in table:
        if isinstance(row, BlockRow):
            block = spec.model.blocks[row.block]
            reps = []
            for _ in range(row.repeat):
                inner, c = _rows(spec, block.table, block_chain(spec, row.block), c)
                reps.append(Block(inner, block.residual, ACTIVATIONS.builder(block.activation)(), row.block))
            modules.append(nn.Sequential(*reps))
        else:
            assert isinstance(row, LayerRow)
            r = resolve(row, chain)
            modules.append(Row(r, r.c_in if r.c_in is not None else c))
            c = r.c_out
    return modules, c


# --- an inference twin ------------------------------------------------------------------------------


class EvalTwin:
    """A copy of ``source`` for evaluation: in eval mode, each row's BatchNorm folded into its
    convolution (w' = w·γ/σ, b' = (b − μ)·γ/σ + β with the running statistics; not where the
    weight is spectrally normalised, computed rather than stored), activations in
    place. :meth:`refreshed` copies the live weights in; the twin keeps its identity (and its
    compiled graphs)."""

    def __init__(self, source: torch.nn.Module):
        self.source = source
        self.model = copy.deepcopy(source).train(False)
        self.folded: list[tuple[Row, Row]] = []  # (live row, twin row) whose BatchNorm is folded
        pairs = list(zip(source.modules(), self.model.modules()))  # deepcopy keeps the order; listed before any change
        for live, twin in pairs:
            if isinstance(live, Row) and live.bn is not None and not parametrize.is_parametrized(live.conv):
                # (a spectrally normalised weight is computed, not stored: its row keeps its BatchNorm)
                twin.bn = None
                if twin.conv.bias is None:
                    channels = live.conv.out_channels
                    twin.conv.bias = torch.nn.Parameter(live.conv.weight.new_zeros(channels), requires_grad=False)
                self.folded.append((live, twin))
            if hasattr(twin, "inplace"):
                twin.inplace = True  # ReLU and the like: on the fresh output of the layer before
        folded = {id(t) for _, twin in self.folded for t in twin.conv.parameters()}
        twin_state = dict(self.model.named_parameters()) | dict(self.model.named_buffers())
        self.plain = [
            (twin_state[n], t)
            for n, t in (*source.named_parameters(), *source.named_buffers())
            if n in twin_state and id(twin_state[n]) not in folded
        ]
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def refreshed(self) -> torch.nn.Module:
        for live, twin in self.folded:
            bn = live.bn
            weight, bias = fuse_conv_bn_weights(
                live.conv.weight,
                live.conv.bias,
                bn.running_mean,
                bn.running_var,
                bn.eps,
                bn.weight,
                bn.bias,
                transpose=isinstance(live.conv, torch.nn.ConvTranspose2d),
            )
            twin.conv.weight.copy_(weight)
            twin.conv.bias.copy_(bias)
        for twin_tensor, live_tensor in self.plain:
            twin_tensor.copy_(live_tensor)
        return self.model
