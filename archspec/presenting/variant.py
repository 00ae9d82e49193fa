"""``archspec new VARIANT --extends BASE``: the start of a variant, with paths that work from
where it is written.

A spec's first line points editors at the JSON Schema, relative to the spec's own folder; a copy
in another folder loses completion silently. The new file's ``$schema`` is the base's schema
seen from the new file's folder, and its ``extends`` is the base seen from there too.
"""

from __future__ import annotations

import os
import re

from archspec.composition.compose import NAME

_SCHEMA_LINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(\S+)\s*$", re.M)


def schema_ref(base_text: str, base: str, out: str) -> str | None:
    """The base's ``$schema`` target, written as seen from ``out``'s folder (a URL as it is);
    None when the base names none in its first lines."""
    match = _SCHEMA_LINE.search("\n".join(base_text.splitlines()[:5]))
    if match is None:
        return None
    ref = match[1]
    if "://" in ref:
        return ref
    return relative(os.path.join(os.path.dirname(os.path.abspath(base)), ref), out)


def relative(target: str, out: str) -> str:
    """``target`` as a path relative to the folder of ``out``, with forward slashes."""
    rel = os.path.relpath(os.path.abspath(target), os.path.dirname(os.path.abspath(out)))
    return rel.replace(os.sep, "/")


def name_for(out: str) -> str:
    """The variant's name: its file's stem. Raises ValueError when that is no valid name."""
    stem = os.path.splitext(os.path.basename(out))[0]
    if not NAME.match(stem):
        raise ValueError(
            f"expected a file name of letters, digits, '_', '.' or '-' (it becomes the spec's name), found {stem!r}"
        )
    return stem


def variant_text(base: str, base_text: str, base_spec, out: str) -> str:
    """The text of a new spec at ``out`` that extends ``base`` and changes nothing yet; its
    commented examples name the base's own rows (each one, uncommented, gives a valid spec)."""
    name = name_for(out)
    schema = schema_ref(base_text, base, out)
    extends = relative(base, out)
    lines = [f"# yaml-language-server: $schema={schema}"] if schema else []
    lines += [
        f"# {name}: a variant of {base_spec.name}.",
        "# Hypothesis: (one line: what this variant changes, and what you expect the comparison to show)",
        "#",
        "# Write only what changes (docs/variants.md), e.g.",
    ]
    examples = examples_for(base_spec)
    width = max(len(e) for e, _ in examples)
    lines += [f"#   {example:<{width}}   # {why}" for example, why in examples]
    lines += [f"extends: {extends}", f"name: {name}", f"description: a variant of {base_spec.name}"]
    return "\n".join(lines) + "\n"


def examples_for(spec) -> list[tuple[str, str]]:
    """(a line a variant could write, what it does), built from the base's real rows: its last
    layer row's activation, its first repeated block, the model's width, the training length."""
    from archspec.presenting.keys import format_value, keys

    listed = keys(spec)
    out = []
    rows = [k.rsplit(".", 1)[0] for k, v in listed if k.endswith(".activation") and ".table[" in k]
    if rows:
        row = rows[-1]
        current = dict(listed)[f"{row}.activation"]
        other = "ELU" if current != "ELU" else "ReLU"
        out.append((f"{row}.activation: {other}", f"one cell (it is {current})"))
    repeats = [(k, v) for k, v in listed if k.endswith(".repeat")]
    if repeats:
        key, value = repeats[0]
        out.append((f"{key}: {2 * value}", f"twice the blocks (it is {value})"))
    out.append(("model.scale: {width: 0.5}", "the same model, half as wide"))
    samples = spec.training.samples
    out.append((f"training.samples: {format_value(samples * 2)}", "any key (archspec show BASE --keys lists them)"))
    return out
