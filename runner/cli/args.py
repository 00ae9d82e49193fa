"""Argument types and helpers that several commands share. Light: no torch, no science stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

DEVICES = ("auto", "cpu", "cuda")  # what runner.runtime.resolve_device accepts


def int_at_least(low: int):
    """An argparse type: an integer of at least ``low`` (refused as a usage error, before any work)."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    convert.__name__ = f"int >= {low}"
    return convert


positive_int = int_at_least(1)


def redshift_list(text: str) -> tuple[float, ...]:
    """An argparse type for every command's --redshifts: comma-separated numbers >= 0."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, e.g. 0,0.5,1,2. Received: {text!r}"
        ) from None
    if not values or any(not 0 <= v < 1e3 for v in values):
        raise argparse.ArgumentTypeError(f"expected redshifts >= 0, e.g. 0,0.5,1,2. Received: {text!r}")
    return values


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto: cuda when available (default)")


def add_set(parser: argparse.ArgumentParser, example: str = "training.samples=2000") -> None:
    from archspec.checking.load import override_arg

    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=override_arg,
        help=f"override a spec value, e.g. --set {example} (repeatable)",
    )


def load_spec_or_report(path: str, overrides: Sequence[str] = (), user: Sequence[str] | None = None):
    """The validated spec, or None after printing why not (the spec's own report, no traceback).
    Overrides (of ``user``, default all) that change nothing are warned about."""
    import archspec
    from archspec.checking.overrides import load_with_warnings

    try:
        spec, warnings = load_with_warnings(path, overrides, among=user)
        for warning in warnings:
            print(warning.format(), file=sys.stderr)
        return spec
    except FileNotFoundError as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
    except archspec.SpecError as exc:
        print(exc.report(), file=sys.stderr)
    return None


def add_model_options(group, model) -> None:
    """One flag per field of the pydantic ``model`` (see :class:`runner.train.options.RunOptions`):
    booleans as switches (``--x/--no-x`` when the field may be None), Literals as choices, other
    values checked by the model itself, so a flag and its field cannot disagree."""
    import typing

    for name, field in model.model_fields.items():
        extra = field.json_schema_extra or {}
        if extra.get("cli") is False:
            continue
        flag = extra.get("flag", "--" + name.replace("_", "-"))
        kwargs: dict = {"dest": name, "help": field.description}
        annotation, args = field.annotation, typing.get_args(field.annotation)
        if annotation is bool:
            kwargs["action"] = "store_false" if field.default else "store_true"
        elif set(args) == {bool, type(None)}:
            kwargs.update(action=argparse.BooleanOptionalAction, default=None)
        elif typing.get_origin(annotation) is typing.Literal:
            kwargs.update(choices=args, default=field.default)
        else:
            kwargs.update(type=_field_type(model, name), default=field.default, metavar=extra.get("metavar"))
        group.add_argument(flag, **kwargs)


def _field_type(model, name: str):
    """An argparse type: the text validated as the model's field ``name`` (its bounds, its pattern)."""
    from pydantic import ValidationError

    def convert(text: str):
        try:
            return getattr(model.model_validate({name: text}), name)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise argparse.ArgumentTypeError(
                message if "Received" in message else f"{message}. Received: {text!r}"
            ) from None

    return convert


def model_options(model, args: argparse.Namespace, **given):
    """The ``model`` (pydantic) of the flags :func:`add_model_options` added, ``given`` overriding."""
    values = {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}
    return model(**{**values, **given})
