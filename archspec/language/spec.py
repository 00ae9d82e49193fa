"""Pydantic models of a spec: rows, blocks, parts, networks, the model, data and training.

The models only check what a single node can know (types, ranges, the form of a row). Facts
that need the whole spec (does a part name an earlier part, is a layer name known, do shapes
flow) are checked by :mod:`archspec.checking.semantics` and :mod:`archspec.checking.shapes`, which report
errors at the same YAML locations.

Field descriptions become the JSON Schema's documentation, which editors show on hover.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    Strict,
    Tag,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from archspec.language.columns import ROW_COLUMNS, short_row_message
from archspec.language.errors import did_you_mean, one_of

# Numbers as YAML writes them: `true` is not 1 (pydantic's lax mode would take it), but an
# integer is a fine float.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), AllowInfNan(False)]  # 1e999 is inf in YAML: refused

_TRUE = {"t", "true"}
_FALSE = {"f", "false"}


def _parse_flag(value: Any) -> Any:
    """Accept the seed's T/F as well as YAML booleans; anything else is left to pydantic."""
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, str):
        raise PydanticCustomError("flag", "expected T, F, true or false, found {found}", {"found": repr(value)})
    return value


# A flag: a boolean, or one of the seed's spellings (YAML reads T and F as strings).
_FLAG_SCHEMA = {"anyOf": [{"type": "boolean"}, {"enum": ["T", "F", "t", "f", "true", "false", "True", "False"]}]}
Flag = Annotated[bool, BeforeValidator(_parse_flag), WithJsonSchema(_FLAG_SCHEMA)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Grown(_Strict):
    """A node that gained fields after specs were saved and hashed: while such a field holds its
    default it is left out of the spec's data, so every spec that does not use it keeps its hash
    (and its saved ``spec.yaml``) as before; a spec that sets it hashes differently, as it should."""

    _added: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _leave_out_added_defaults(self, handler):
        data = handler(self)
        for name in self._added:
            field = type(self).model_fields[name]
            if getattr(self, name) == field.get_default(call_default_factory=True):
                data.pop(field.alias or name, None)
        return data


_CHANNELS_RE = re.compile(r"^\s*(\d+)?\s*/\s*(\d+)\s*$")


class Channels(_Strict):
    """Channels in and out of a row. ``in`` is optional: the incoming tensor decides it."""

    in_: Int | None = Field(None, alias="in", ge=1, le=1_000_000)
    out: Int = Field(ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, str, dict)):
            raise PydanticCustomError(
                "channels", "expected 'in/out' such as '8/16', found {found}", {"found": repr(value)}
            )
        if isinstance(value, int):
            return {"out": value}
        if isinstance(value, str):
            match = _CHANNELS_RE.match(value)
            if not match:
                raise PydanticCustomError(
                    "channels",
                    "expected 'in/out' such as '8/16' (or '/16' to take in from the input), found {found}",
                    {"found": repr(value)},
                )
            c_in, c_out = match.groups()
            return {"in": int(c_in) if c_in is not None else None, "out": int(c_out)}
        return value

    def __str__(self) -> str:
        return f"{'' if self.in_ is None else self.in_}/{self.out}"

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(\d+)?\s*/\s*(\d+)\s*$"},
                {"type": "integer", "minimum": 1},
            ],
            "description": "channels in/out, e.g. '8/16'; an integer or '/16' gives only out",
        }


Padding = Union[Literal["auto"], Annotated[Int, Field(ge=0, le=100_000)]]  # noqa: UP007 (3.10 needs Union in aliases with Literal)
ActivationName = Annotated[
    str,
    Field(
        description="an activation: ReLU, PReLU, Softplus, LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid or none; "
        "LeakyReLU(0.2) sets its negative slope"
    ),
]
InitName = Annotated[
    str,
    Field(
        description="how the row's weight starts: 'torch' (torch's default), 'kaiming' (He et al. 2015, for the "
        "row's activation) or 'xavier' / 'xavier(0.25)' (Glorot, with a gain); docs/spec-language.md"
    ),
]
_SPECTRAL_NORM = (
    "divide the layer's weight by its largest singular value, estimated by one power iteration per "
    "training step (Miyato et al. 2018; torch.nn.utils.parametrizations.spectral_norm) (T/F)"
)


PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
_PADDING_MODE = (
    "what the padding holds: 'zeros' (the paper's), 'reflect', 'replicate' or 'circular' (torch's "
    "padding_mode; a ConvTransp pads with zeros only). Zero padding paints bright stripes along "
    "a tile's borders (docs/evaluation.md)"
)


class Defaults(_Grown):
    """Values a row takes when it leaves a column out. Rows override parts, parts the model."""

    _added = ("padding_mode", "spectral_norm", "init")

    bias: Annotated[Flag | None, Field(description="learn a bias (T/F)")] = None
    batchnorm: Annotated[Flag | None, Field(description="BatchNorm2d after the layer (T/F)")] = None
    activation: ActivationName | None = None
    padding: Annotated[Padding | None, Field(description="'auto' = (kernel - stride) / 2, or an integer")] = None
    padding_mode: PaddingMode | None = Field(None, description=_PADDING_MODE)
    spectral_norm: Annotated[Flag | None, Field(description=_SPECTRAL_NORM)] = None
    init: InitName | None = None


# What a row gets when neither it, its part, its block nor the model says otherwise.
BUILTIN_DEFAULTS = Defaults(
    bias=True,
    batchnorm=False,
    activation="none",
    padding="auto",
    padding_mode="zeros",
    spectral_norm=False,
    init="torch",
)


class LayerRow(_Grown):
    """One row of a layer table: the seed's seven columns, plus optional padding (and, written as a
    mapping, output_padding, padding_mode, spectral_norm and init)."""

    _added = ("padding_mode", "spectral_norm", "init")

    layer: str = Field(description="layer kind: Conv or ConvTransp")
    channels: Channels
    kernel: Int = Field(ge=1, le=10_000, description="kernel size (square), pixels")
    stride: Int = Field(1, ge=1, le=10_000, description="stride, pixels")
    bias: Annotated[Flag | None, Field(description="learn a bias (T/F); default from the part or model")] = None
    batchnorm: Annotated[Flag | None, Field(description="BatchNorm2d after the layer (T/F)")] = None
    activation: ActivationName | None = None
    padding: Annotated[Padding | None, Field(description="'auto' = (kernel - stride) / 2, or an integer")] = None
    output_padding: Int = Field(0, ge=0, le=10_000, description="extra output rows/columns of a ConvTransp")
    padding_mode: PaddingMode | None = Field(
        None, description=_PADDING_MODE + "; a row written as a mapping may set it"
    )
    spectral_norm: Annotated[Flag | None, Field(description=_SPECTRAL_NORM + "; default from the part or model")] = None
    init: InitName | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_flow_list(cls, value: Any) -> Any:
        """``[Conv, 1/8, 4, 2, F, T, ReLU]`` -> the mapping form, column by column."""
        if isinstance(value, (list, tuple)):
            if not 3 <= len(value) <= len(ROW_COLUMNS):
                raise PydanticCustomError(
                    "row_length",
                    "expected a row of 3 to {n} columns [layer, channels, kernel, stride, bias, batchnorm, "
                    "activation, padding], found {found} columns",
                    {"n": len(ROW_COLUMNS), "found": len(value)},
                )
            short = short_row_message(value)
            if short is not None:
                raise PydanticCustomError("row_columns", "{message}", {"message": short[0], "fix": short[1]})
            return {name: item for name, item in zip(ROW_COLUMNS, value) if item is not None}
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "row_type",
                "expected a row such as [Conv, 1/8, 4, 2, F, T, ReLU] or a mapping, found {found}",
                {"found": repr(value)},
            )
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        mapping = handler.resolve_ref_schema(handler(schema))
        for name in ("stride", "bias", "batchnorm", "activation", "padding", "output_padding"):  # `_`: take the default
            field = mapping["properties"][name]
            if not any(option.get("const") == "_" for option in field.get("anyOf", [])):
                wrapped = {"anyOf": [field, {"const": "_", "description": "take the default"}]}
                if "description" in field:
                    wrapped["description"] = field["description"] + "; _ takes the default"
                mapping["properties"][name] = wrapped
        flow = {
            "type": "array",
            "description": "[layer, channels in/out, kernel, stride, bias, batchnorm, activation, padding?]",
            "minItems": 3,
            "maxItems": len(ROW_COLUMNS),
            "prefixItems": [mapping["properties"][name] for name in ROW_COLUMNS],
            "items": False,
        }
        return {"anyOf": [flow, mapping]}


class BlockRow(_Strict):
    """A row that applies a named block, possibly several times in a row."""

    block: str = Field(description="the name of a block under model.blocks")
    repeat: Int = Field(1, ge=1, le=1000, description="how many times the block is applied")


def _row_kind(value: Any) -> str:
    if isinstance(value, dict) and "block" in value:
        return "block"
    if isinstance(value, BlockRow):
        return "block"
    return "layer"


Row = Annotated[
    Annotated[LayerRow, Tag("layer")] | Annotated[BlockRow, Tag("block")],
    Discriminator(_row_kind),
]
Table = Annotated[list[Row], Field(min_length=1, description="the layer table, one row per layer, top to bottom")]


class Block(_Strict):
    """A reusable table. Residual: out = activation(x + table(x)); plain: out = activation(table(x))."""

    residual: Flag = Field(False, description="add the block's input to its output (shapes must agree)")
    activation: ActivationName = "none"
    defaults: Defaults = Defaults()
    table: Table


class Part(_Strict):
    """A lettered part of a network: an input, then a table."""

    input: str | Annotated[list[str], Field(min_length=1)] = Field(
        description="a model input (x, y, z) or an earlier part; a list is concatenated along channels"
    )
    defaults: Defaults = Defaults()
    table: Table

    @property
    def inputs(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class Network(BaseModel):
    """A network: its parts by name (A, B, C, ...), run in order; ``output`` names the result."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Part] = Field(init=False)  # type: ignore[assignment]

    output: str | None = Field(
        None, description="the part whose result is the network's output (default: the last part)"
    )

    @property
    def parts(self) -> dict[str, Part]:
        return dict(self.__pydantic_extra__ or {})

    @property
    def output_part(self) -> str:
        return self.output if self.output is not None else list(self.parts)[-1]

    @model_validator(mode="after")
    def _has_parts(self) -> Network:
        if not self.parts:
            raise PydanticCustomError(
                "no_parts", "expected at least one part (A: {input: ..., table: [...]}), found none", {}
            )
        return self


Shape = Annotated[
    tuple[
        Annotated[Int, Field(ge=1, le=1_000_000)],
        Annotated[Int, Field(ge=1, le=1_000_000)],
        Annotated[Int, Field(ge=1, le=1_000_000)],
    ],
    Field(description="[channels, height, width]"),
]


def _known_kind(name: str) -> str:
    from archspec.language.kinds import KINDS  # the registry, filled when archspec.language.kinds is imported

    if name not in KINDS:
        raise PydanticCustomError(
            "unknown_kind",
            "unknown model kind {found}; expected one of {known}",
            {"found": repr(name), "known": one_of(KINDS.names()), "fix": did_you_mean(name, KINDS.names())},
        )
    return name


def _kinds_schema(schema: dict) -> None:
    from archspec.language.kinds import KINDS

    schema["enum"] = KINDS.names()
    schema["description"] = "the model kind: " + "; ".join(f"{name}: {KINDS.get(name).doc}" for name in KINDS.names())


KindName = Annotated[str, AfterValidator(_known_kind), Field(json_schema_extra=_kinds_schema)]


class Scale(_Strict):
    """Multipliers of a model's size, applied before its shapes are checked (archspec/composition/scale.py):
    ``scale: {width: 0.5}`` is the same model, half as wide."""

    width: Float = Field(
        1.0,
        gt=0,
        le=64,
        description="hidden channels x width, rounded half up, at least 1; channels the "
        "kind's contract fixes (model tensors, each network's output) stay",
    )
    depth: Float = Field(1.0, gt=0, le=64, description="each block row's repeat x depth, rounded half up, at least 1")


class Model(_Strict):
    kind: KindName  # its description lists the registered kinds with their contracts (_kinds_schema)
    shapes: dict[str, Shape] = Field(description="the model's tensors as [C, H, W], e.g. x: [1, 512, 512]")
    defaults: Defaults = Defaults()
    blocks: dict[str, Block] = {}
    networks: dict[str, Network]
    scale: Scale | None = Field(
        None, description="width and depth multipliers; the resolved spec has them applied, and no scale"
    )


class MockData(_Grown):
    """Options of the embedded mock store (generated once into the cache folder)."""

    _added = ("sky",)

    grid: Int = Field(1024, ge=16, le=16384, description="pixels per side of a slice (0.1953125 Mpc/h each)")
    slices: Int = Field(4, ge=2, le=64, description="slices per depth (100 and 150 Mpc/h)")
    redshifts: list[Annotated[Float, Field(ge=0, le=20)]] | None = Field(
        None, description="redshifts to generate (default: the original's 11)"
    )
    seed: Int = Field(0, ge=0, description="random seed of the mock fields")
    sky: Literal["halo", "lognormal"] = Field(
        "halo",
        description="'halo': dark matter and pressure painted from the same halos (pyccl's halo model; "
        "the default since mock v3); 'lognormal': the older sky of mock v2, pressure a "
        "function of each slice's own smoothed density (docs/mock.md)",
    )


class Data(_Grown):
    _added = ("redshift_offset", "validation_slices")

    store: str = Field("mock", description="'mock' (the embedded mock store) or the path of an HDF5 tile store")
    mock: MockData = MockData()
    tile: Int | None = Field(None, ge=8, le=65536, description="tile size in pixels (default: x's height)")
    test_slices: list[Annotated[Int, Field(ge=0)]] | None = Field(
        None, description="slice indices held out for testing (default: the store's split)"
    )
    validation_slices: list[Annotated[Int, Field(ge=0)]] | None = Field(
        None,
        description="slice indices held out of training and testing, on which what is fitted after training is "
        "fitted (training.calibration); default: none, and the calibration is fitted on training tiles",
    )

    @field_validator("validation_slices")
    @classmethod
    def _apart_from_test(cls, validation: list[int] | None, info) -> list[int] | None:
        # what needs no store is told by `archspec check`; slices beyond the store's count are the data's error
        test = info.data.get("test_slices") or []
        both = sorted(set(validation or ()) & set(test))
        if both:
            raise PydanticCustomError(
                "validation_is_test",
                "expected validation slices apart from the test slices {test}, found {both} in both",
                {"test": test, "both": both},
            )
        return validation

    redshift_offset: Float = Field(
        0.0,
        ge=-100,
        le=100,
        description="y's redshift channel holds z + redshift_offset: the paper's CGAN centres z in [0, 2] on 0 "
        "with -1 (f(z) = z - 1); the CVAE's channel is z itself (0)",
    )


class LearningRate(_Grown):
    _added = ("every",)

    start: Float = Field(1e-3, gt=0, le=10, description="learning rate at the start")
    factor: Float = Field(0.1, gt=0, le=1, description="multiplied in at each milestone")
    milestones: list[Annotated[Float, Field(ge=0)]] = Field(
        [64, 96, 128], description="pseudo-epochs at which the rate is multiplied by factor"
    )
    min: Float = Field(1e-6, ge=0, description="floor the rate never goes below")
    every: Float | None = Field(
        None,
        gt=0,
        description="multiply by factor every this many pseudo-epochs (a milestone at every multiple), instead "
        "of at listed milestones: the CGAN's 0.85 every pseudo-epoch is {factor: 0.85, every: 1}",
    )

    @model_validator(mode="before")
    @classmethod
    def _every_replaces_milestones(cls, value: Any) -> Any:
        """With ``every`` and no milestones written, the default milestones do not apply."""
        if isinstance(value, dict) and value.get("every") is not None and "milestones" not in value:
            return {**value, "milestones": []}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LearningRate:
        if self.every is not None and self.milestones:
            raise PydanticCustomError(
                "lr_every",
                "expected milestones or every, not both; found every={every} and milestones {milestones}",
                {
                    "every": _num(self.every),
                    "milestones": [_num(m) for m in self.milestones],
                    "fix": "remove milestones (every puts one at each multiple)",
                },
            )
        _check_increasing(self.milestones, "milestones")
        if self.min > self.start:
            raise PydanticCustomError(
                "lr_floor",
                "expected min <= start, found min={min} above start={start}",
                {"min": self.min, "start": self.start},
            )
        return self


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _check_increasing(values: list[float], name: str) -> None:
    for before, after in zip(values, values[1:]):
        if after <= before:
            raise PydanticCustomError(
                "not_increasing",
                "expected {name} in increasing order, found {after} after {before}",
                {"name": name, "after": _num(after), "before": _num(before)},
            )


class BatchStep(_Strict):
    """From pseudo-epoch ``at`` on, batches of ``size`` samples; written ``[at, size]``."""

    at: Float = Field(ge=0, description="from this pseudo-epoch on")
    size: Int = Field(ge=1, le=1_000_000, description="batch size, samples")

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise PydanticCustomError(
                    "pair", "expected [pseudo-epoch, batch size], found {n} items", {"n": len(value)}
                )
            return {"at": value[0], "size": value[1]}
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        mapping = handler.resolve_ref_schema(handler(schema))
        pair = {
            "type": "array",
            "prefixItems": [mapping["properties"]["at"], mapping["properties"]["size"]],
            "items": False,
            "minItems": 2,
            "description": "[from pseudo-epoch, batch size]",
        }
        return {"anyOf": [pair, mapping]}


class Optimizer(_Strict):
    name: Literal["Adam", "AdamW"] = "Adam"
    betas: tuple[Annotated[Float, Field(ge=0, lt=1)], Annotated[Float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    weight_decay: Float = Field(0.0, ge=0)


class Evaluation(_Strict):
    every: Int = Field(72, ge=1, description="evaluate the test ELBO every this many training samples")
    batch_size: Int = Field(24, ge=1, description="test samples per evaluation")


class Checkpoints(_Strict):
    every: Int = Field(20_000, ge=1, description="write a checkpoint every this many training samples (and at the end)")


class Likelihood(_Grown):
    """The Gaussian of unit variance that log p(x | ...) is, the space it lives in, and a term
    on the pressure spectrum beside it."""

    _added = ("spectra",)

    space: Literal["shift_log", "sqrt", "pressure"] = Field(
        "shift_log",
        description="'shift_log': on the stored transform t = ln(p/sigma_z + 1)/4, the paper's loss, "
        "which weighs the rare peaks that carry the power spectrum very little; "
        "'sqrt': on sqrt(p/sigma_z), between the two; "
        "'pressure': on p/sigma_z = exp(4t) - 1, aligned with the power spectra "
        "(docs/variants.md)",
    )
    spectra: Float = Field(
        0.0,
        ge=0,
        le=1e6,
        description="weight λ of a term on the pressure spectrum beside the likelihood: λ times the squared "
        "error of pressure p/sigma_z in Fourier space, each shell of |k| in units of the true power in it, "
        "averaged over the shells (the batch's tiles summed), so every scale of the painting counts as the "
        "power spectrum counts it (docs/variants.md); 0, the paper's, adds nothing; the quickstart's: 10",
    )


class PhaseTraining(_Strict):
    """What one training phase of a kind with several (a cgan's discriminator and generator) does
    differently from ``training``: its own learning-rate schedule, its own optimizer."""

    lr: LearningRate | None = Field(None, description="this phase's learning rate schedule (default: training.lr)")
    optimizer: Optimizer | None = Field(None, description="this phase's optimizer (default: training.optimizer)")


class GAN(_Strict):
    """The terms of a GAN's generator loss beside the adversarial one (``kind: cgan``)."""

    perceptual: Float = Field(
        0.0,
        ge=0,
        le=1e6,
        description="weight λ of the perceptual term: the mean squared difference of the discriminator's "
        "intermediate features on the true and the painted map (feature matching; docs/cgan.md). "
        "The paper's CGAN: 2.5",
    )


class Training(_Grown):
    _added = ("likelihood", "calibration", "phases", "gan")

    samples: Int = Field(150_000, ge=1, le=10**12, description="stop after this many training samples")
    pseudo_epoch: Int = Field(1568, ge=1, description="samples per pseudo-epoch, the unit of the milestones")
    batch_size: list[BatchStep] = Field(
        default_factory=lambda: [
            BatchStep(at=0, size=4),
            BatchStep(at=8, size=8),
            BatchStep(at=16, size=16),
            BatchStep(at=32, size=24),
        ],
        min_length=1,
        description="[[pseudo-epoch, batch size], ...]: the batch size from each pseudo-epoch on; the first is at 0",
    )
    lr: LearningRate = LearningRate()
    optimizer: Optimizer = Optimizer()
    beta: Float = Field(1.0, ge=0, description="weight of the KL term in the ELBO")
    likelihood: Likelihood = Field(
        Likelihood(), description="the reconstruction term log p(x | y, z) (default: the paper's)"
    )
    calibration: Literal["none", "pressure_mean"] = Field(
        "none",
        description="'pressure_mean': after training, map each painted t to E[p | painted t] per redshift, "
        "fitted on the validation slices (data.validation_slices; else training tiles) and stored in every "
        "checkpoint, so the painting has pressure's mean where "
        "the paper's log-space loss paints the mean of its logarithm (docs/calibration.md); 'none': paint "
        "the network's output as it is (the paper)",
    )
    phases: dict[str, PhaseTraining] = Field(
        {},
        description="per training phase of the kind (a cgan's discriminator, generator): its own lr and optimizer",
    )
    gan: GAN = Field(GAN(), description="a cgan's generator loss (kind: cgan only)")
    evaluation: Evaluation = Evaluation()
    checkpoint: Checkpoints = Checkpoints()
    log_every: Int = Field(72, ge=1, description="log training metrics every this many samples")
    seed: Int = Field(0, ge=0, description="seed of weights, sampling and latent noise")

    def lr_of(self, phase: str | None) -> LearningRate:
        """The learning-rate schedule of training phase ``phase``: its own, else ``lr``."""
        own = self.phases.get(phase) if phase is not None else None
        return own.lr if own is not None and own.lr is not None else self.lr

    def optimizer_of(self, phase: str | None) -> Optimizer:
        """The optimizer of training phase ``phase``: its own, else ``optimizer``."""
        own = self.phases.get(phase) if phase is not None else None
        return own.optimizer if own is not None and own.optimizer is not None else self.optimizer

    @field_validator("batch_size")
    @classmethod
    def _batch_steps(cls, steps: list[BatchStep]) -> list[BatchStep]:
        if steps[0].at != 0:
            raise PydanticCustomError(
                "first_step",
                "expected the first batch size to start at pseudo-epoch 0, found {at}",
                {"at": steps[0].at},
            )
        _check_increasing([s.at for s in steps], "batch-size steps")
        return steps


class Spec(_Strict):
    """An archspec file."""

    archspec: Literal[1] = Field(description="version of the spec language")
    name: str = Field(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        max_length=100,
        description="the spec's name (used for run folders: one plain folder name, never . or .. or hidden)",
    )
    description: str | None = None
    model: Model
    data: Data = Data()
    training: Training = Training()
