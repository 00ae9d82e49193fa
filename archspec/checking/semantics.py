"""Checks that need the whole spec: names, references, the model kind's contract, cycles.

Each check is a small function from a validated :class:`Spec` to a list of problems whose
``loc`` is the YAML path of the offending node; :mod:`archspec.checking.load` adds file, line and column.
"""

from __future__ import annotations

import re

from archspec.language.errors import Problem, did_you_mean, one_of
from archspec.language.kinds import KINDS
from archspec.language.registry import ACTIVATIONS, INITS, LAYERS, BadArgument, UnknownName
from archspec.language.spec import BlockRow, Defaults, LayerRow, Spec

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check(spec: Spec) -> list[Problem]:
    problems: list[Problem] = []
    problems += check_contract(spec)
    problems += check_defaults(spec)
    problems += check_blocks(spec)
    problems += check_tile(spec)
    problems += check_phases(spec)
    for net_name in spec.model.networks:
        allowed = KINDS.get(spec.model.kind).reads(net_name, spec.model.shapes)
        problems += check_network(spec, net_name, allowed)
    return problems


def check_contract(spec: Spec) -> list[Problem]:
    """The kind's tensors under model.shapes and its networks under model.networks, no more, no less."""
    kind = KINDS.get(spec.model.kind)
    return _same_names(
        kind.name, "shapes", "tensor", kind.tensors, spec.model.shapes, "{name}: [C, H, W]"
    ) + _same_names(kind.name, "networks", "network", kind.networks, spec.model.networks, f"{{name}}: ... ({kind.doc})")


def _same_names(kind: str, section: str, what: str, required: tuple[str, ...], given, how: str) -> list[Problem]:
    """A problem for each required name missing from ``model.<section>`` and each unknown one."""
    loc = ("model", section)
    problems = [
        Problem(
            f"missing_{section.rstrip('s')}",
            loc,
            f"model kind '{kind}' needs a {what} '{name}', found none",
            f"add '{how.format(name=name)}' under model.{section}",
        )
        for name in required
        if name not in given
    ]
    problems += [
        Problem(
            f"unknown_{section.rstrip('s')}",
            loc + (name,),
            f"unknown {what} '{name}' for model kind '{kind}'; expected one of {one_of(required)}",
            did_you_mean(name, required),
        )
        for name in given
        if name not in required
    ]
    return problems


def check_phases(spec: Spec) -> list[Problem]:
    """``training.phases`` names the kind's phases; ``training.gan`` is for a kind with a
    discriminator, ``training.likelihood.spectra`` for one without (trained on a likelihood)."""
    kind = KINDS.get(spec.model.kind)
    problems = [
        Problem(
            "unknown_phase",
            ("training", "phases", name),
            f"unknown training phase {name!r} for model kind '{kind.name}'; expected "
            + (f"one of {one_of(kind.phases)}" if len(kind.phases) > 1 else f"'{kind.phases[0]}' (its only one)"),
            did_you_mean(name, list(kind.phases))
            if len(kind.phases) > 1
            else "set training.lr and training.optimizer instead",
        )
        for name in spec.training.phases
        if name not in kind.phases
    ]
    if spec.training.gan.perceptual and "discriminator" not in kind.networks:
        problems.append(
            Problem(
                "gan_only",
                ("training", "gan", "perceptual"),
                f"a perceptual term needs a discriminator's features; model kind '{kind.name}' has none. "
                f"Received: perceptual={spec.training.gan.perceptual:g}",
                "remove training.gan (it is for kind: cgan)",
            )
        )
    if spec.training.likelihood.spectra and "discriminator" in kind.networks:
        problems.append(
            Problem(
                "likelihood_only",
                ("training", "likelihood", "spectra"),
                f"a spectral term is added to a likelihood; model kind '{kind.name}' trains without one "
                f"(its generator's loss is training.gan's). Received: spectra={spec.training.likelihood.spectra:g}",
                "remove training.likelihood.spectra (it is for kinds trained on a likelihood: cvae, regression)",
            )
        )
    return problems


def check_tile(spec: Spec) -> list[Problem]:
    """Training tiles are x's size: a different data.tile would feed the model tensors it was not built for."""
    x = spec.model.shapes.get("x")
    if spec.data.tile is None or x is None or (spec.data.tile, spec.data.tile) == tuple(x[1:]):
        return []
    return [
        Problem(
            "tile_size",
            ("data", "tile"),
            f"expected x's size {x[1]}×{x[2]} (model.shapes.x), found tile {spec.data.tile}",
            f"write tile: {x[1]}, or change model.shapes (archspec show --sizes lists the sizes that flow)",
        )
    ]


def check_defaults(spec: Spec) -> list[Problem]:
    problems = _check_defaults(spec.model.defaults, ("model", "defaults"))
    for name, network in spec.model.networks.items():
        for part_name, part in network.parts.items():
            problems += _check_defaults(part.defaults, ("model", "networks", name, part_name, "defaults"))
    for name, block in spec.model.blocks.items():
        problems += _check_defaults(block.defaults, ("model", "blocks", name, "defaults"))
    return problems


def _check_defaults(defaults: Defaults, loc: tuple) -> list[Problem]:
    problems = []
    if defaults.activation is not None:
        problems += _check_activation(defaults.activation, loc + ("activation",))
    if defaults.init is not None:
        problems += _check_named(INITS, defaults.init, loc + ("init",))
    return problems


def _check_activation(name: str, loc: tuple) -> list[Problem]:
    return _check_named(ACTIVATIONS, name, loc)


def _check_named(registry, text: str, loc: tuple) -> list[Problem]:
    """An unknown name, or a known one written with a number it does not take (``ReLU(0.2)``,
    ``LeakyReLU(3)``), in the registry's own words."""
    try:
        registry.get(text)
    except BadArgument as exc:
        return [Problem("bad_argument", loc, str(exc), exc.hint)]
    except UnknownName as exc:  # the name of ``Name(value)`` alone: its suggestion is a name
        return [Problem(f"unknown_{registry.kind}", loc, str(exc), exc.hint)]
    return []


def _unknown(registry, name: str, loc: tuple) -> Problem:
    """The problem of a name a registry does not hold, in the registry's own words."""
    exc = UnknownName(registry.kind, name, registry.names())
    return Problem(f"unknown_{registry.kind}", loc, str(exc), exc.hint)


def check_blocks(spec: Spec) -> list[Problem]:
    problems = []
    for name, block in spec.model.blocks.items():
        loc = ("model", "blocks", name)
        if not _NAME.match(name):
            problems.append(
                Problem("bad_name", loc, f"expected a block name of letters, digits and '_', found {name!r}")
            )
        problems += _check_activation(block.activation, loc + ("activation",))
        problems += check_table(spec, block.table, loc + ("table",))
    problems += _block_cycles(spec)
    return problems


def _block_cycles(spec: Spec) -> list[Problem]:
    """A block that (through other blocks) contains itself would never end."""
    uses = {
        name: [r.block for r in block.table if isinstance(r, BlockRow) and r.block in spec.model.blocks]
        for name, block in spec.model.blocks.items()
    }
    problems = []
    reported: set[frozenset] = set()
    for start in uses:
        stack = [(start, [start])]
        while stack:
            current, trail = stack.pop()
            for nxt in uses[current]:
                if nxt == start:
                    cycle = trail + [start]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        row = next(
                            i
                            for i, r in enumerate(spec.model.blocks[current].table)
                            if isinstance(r, BlockRow) and r.block == start
                        )
                        problems.append(
                            Problem(
                                "cycle",
                                ("model", "blocks", current, "table", row, "block"),
                                f"blocks form a cycle: {' -> '.join(cycle)}",
                                "a block may use other blocks, but never itself",
                            )
                        )
                elif nxt not in trail:
                    stack.append((nxt, trail + [nxt]))
    return problems


def check_table(spec: Spec, table: list, loc: tuple) -> list[Problem]:
    problems = []
    for i, row in enumerate(table):
        row_loc = loc + (i,)
        if isinstance(row, BlockRow):
            if row.block not in spec.model.blocks:
                known = list(spec.model.blocks)
                expected = f"one of {one_of(known)}" if known else "a block defined under model.blocks (there are none)"
                problems.append(
                    Problem(
                        "unknown_block",
                        row_loc + ("block",),
                        f"unknown block {row.block!r}; expected {expected}",
                        did_you_mean(row.block, known),
                    )
                )
            continue
        assert isinstance(row, LayerRow)
        if row.layer not in LAYERS:
            if row.layer in spec.model.blocks:
                problems.append(
                    Problem(
                        "block_as_layer",
                        row_loc + ("layer",),
                        f"'{row.layer}' is a block, not a layer",
                        f"write the row as {{block: {row.layer}, repeat: 1}}",
                    )
                )
            else:
                problems.append(_unknown(LAYERS, row.layer, row_loc + ("layer",)))
        if row.activation is not None:
            problems += _check_activation(row.activation, row_loc + ("activation",))
        if row.init is not None:
            problems += _check_named(INITS, row.init, row_loc + ("init",))
    return problems


def check_network(spec: Spec, net_name: str, allowed_inputs: tuple[str, ...]) -> list[Problem]:
    """Parts read model inputs the kind allows, or earlier parts; the output names a part."""
    network = spec.model.networks[net_name]
    parts = list(network.parts)
    loc = ("model", "networks", net_name)
    problems = []
    for index, (part_name, part) in enumerate(network.parts.items()):
        part_loc = loc + (part_name,)
        if not _NAME.match(part_name) or part_name in spec.model.shapes:
            problems.append(
                Problem(
                    "bad_name",
                    part_loc,
                    f"expected a part name of letters, digits and '_' that is not a model tensor, found {part_name!r}",
                    "name parts A, B, C, ... as the paper does",
                )
            )
        for j, source in enumerate(part.inputs):
            input_loc = part_loc + (("input", j) if isinstance(part.input, list) else ("input",))
            problems += _check_source(source, part_name, index, parts, allowed_inputs, spec, network, input_loc)
        problems += check_table(spec, part.table, part_loc + ("table",))
    if network.output is not None and network.output not in network.parts:
        problems.append(
            Problem(
                "unknown_part",
                loc + ("output",),
                f"output names part {network.output!r}, which does not exist; expected one of {one_of(parts)}",
                did_you_mean(network.output, parts),
            )
        )
    return problems


def _check_source(
    source: str, part_name: str, index: int, parts: list[str], allowed: tuple[str, ...], spec: Spec, network, loc: tuple
) -> list[Problem]:
    if source in allowed or source in parts[:index]:
        return []
    if source == part_name:
        return [
            Problem(
                "cycle", loc, f"part {part_name} reads its own output: a cycle", "read a model input or an earlier part"
            )
        ]
    if source in parts:  # a later part: a cycle if that part (transitively) reads this one
        chain = _reads(network, source, part_name, [part_name, source])
        if chain:
            return [
                Problem(
                    "cycle",
                    loc,
                    f"parts form a cycle: {' -> '.join(chain)}",
                    "parts run top to bottom; each reads model inputs or earlier parts",
                )
            ]
        return [
            Problem(
                "later_part",
                loc,
                f"part {part_name} reads part {source}, which comes later",
                f"move part {source} above part {part_name}",
            )
        ]
    if source in spec.model.shapes:
        return [
            Problem(
                "input_not_allowed",
                loc,
                f"network reads '{source}', which a {spec.model.kind} network of this name may not read; expected "
                f"one of {one_of(allowed)}",
            )
        ]
    known = list(allowed) + parts[:index]
    return [
        Problem(
            "unknown_input",
            loc,
            f"unknown input {source!r}; expected a model input or an earlier part: {one_of(known)}",
            did_you_mean(source, known),
        )
    ]


def _reads(network, start: str, target: str, trail: list[str]) -> list[str] | None:
    for source in network.parts[start].inputs:
        if source == target:
            return trail + [target]
        if source in network.parts and source not in trail:
            found = _reads(network, source, target, trail + [source])
            if found:
                return found
    return None


def check_raw_names(data: object) -> list[Problem]:
    """Name checks on data that failed validation elsewhere, so one run reports a misspelt layer
    or activation together with the type errors (the full checks need a valid spec)."""
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        return []
    tables: list[tuple[tuple, object]] = []
    blocks = model.get("blocks") if isinstance(model.get("blocks"), dict) else {}  # `blocks: 3` is reported elsewhere
    for name, block in blocks.items():
        if isinstance(block, dict):
            tables.append((("model", "blocks", name, "table"), block.get("table")))
    for net_name, network in (model.get("networks") or {}).items() if isinstance(model.get("networks"), dict) else []:
        for part_name, part in network.items() if isinstance(network, dict) else []:
            if isinstance(part, dict):
                tables.append((("model", "networks", net_name, part_name, "table"), part.get("table")))
    problems: list[Problem] = []
    for loc, table in tables:
        for i, row in enumerate(table if isinstance(table, list) else []):
            layer, activation = _raw_row_names(row)
            if isinstance(layer, str) and layer not in LAYERS and layer not in blocks:
                problems.append(_unknown(LAYERS, layer, loc + (i, "layer")))
            if isinstance(activation, str):
                problems += _check_activation(activation, loc + (i, "activation"))
    return problems


def _raw_row_names(row: object) -> tuple[object, object]:
    if isinstance(row, list):
        return (row[0] if row else None), (row[6] if len(row) > 6 else None)
    if isinstance(row, dict):
        return row.get("layer"), row.get("activation")
    return None, None
