"""`archspec` command line: check | show | draw | schema | diff | new.

Exit status: 0 when all is well, 1 when a spec is invalid, 2 for usage errors (a missing file,
an unknown option); `archspec diff` answers as diff(1) does: 0 the same, 1 different, 2 trouble.
`archspec check` never imports torch: checking a spec is instant. Wherever a command reads a
spec, a run folder stands for the resolved spec it saved (its ``spec.yaml``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from archspec.checking.load import loads, override_arg
from archspec.checking.overrides import load_with_warnings
from archspec.language.dump import dump_resolved, to_data
from archspec.language.errors import SpecError
from archspec.language.evolve import run_spec
from archspec.presenting.diff import report

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    warn_of_clash()
    try:
        return args.func(args)
    except BrokenPipeError:  # `archspec show | head`
        return EXIT_OK


def warn_of_clash() -> None:
    """Say once per process when another distribution also provides `archspec` (a conda base
    environment has Spack's): which one, and to use a virtual environment."""
    from archspec.language.distribution import clash_warning

    line = clash_warning()
    if line:
        print(line, file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archspec", description="Validate, inspect and export archspec specs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("check", help="validate specs and prove their shapes flow")
    p.add_argument("specs", nargs="+", metavar="SPEC", help="a spec, or a run folder (its saved spec.yaml)")
    _add_set(p)
    p.add_argument(
        "--fix", action="store_true", help="apply each problem's best checked fix in place, print the diff, check again"
    )
    p.add_argument("--dry-run", action="store_true", help="with --fix: print the diff, leave the files as they are")
    p.add_argument(
        "--format",
        choices=("text", "json", "sarif", "github"),
        default="text",
        help="json, sarif or github (annotations): problems and fixes as edits, for editors and CI",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("show", help="per-layer shapes, parameters, multiply-adds, memory, receptive field")
    p.add_argument("spec", metavar="SPEC", help="a spec, or a run folder (its saved spec.yaml)")
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: the same data as JSON (as archspec check --format json)",
    )
    p.add_argument("--json", action="store_const", dest="format", const="json", help="the same as --format json")
    p.add_argument("--sizes", action="store_true", help="list the input sizes for which the whole model flows")
    p.add_argument(
        "--keys", action="store_true", help="list every key --set accepts for this spec, with the value it holds"
    )
    p.add_argument(
        "--resolved",
        action="store_true",
        help="print the resolved spec (bases of extends and model.scale applied, defaults written): "
        "what a run saves and hashes",
    )
    _add_set(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "draw",
        help="the network as a picture: Mermaid, Graphviz DOT, or SVG/PNG/PDF through Graphviz",
        description="Draw each network of a spec from its static shape flow (no torch): rows, shapes, "
        "merges, residual blocks, parameters and multiply-adds.",
    )
    p.add_argument("spec", metavar="SPEC", help="a spec, or a run folder (its saved spec.yaml)")
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        help="write here; the format follows the extension: .md (a Mermaid block), .mmd, .dot/.gv, .svg, "
        ".png, .pdf (the last three need Graphviz's dot); default: Mermaid on stdout",
    )
    p.add_argument("--format", choices=("mermaid", "dot"), help="the text format, whatever the extension")
    p.add_argument(
        "--diff", metavar="OTHER", help="highlight the rows that differ from OTHER (its values shown as 'was')"
    )
    _add_set(p, "applied to SPEC")
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec language")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser(
        "diff",
        help="what differs between two specs, key by key (after defaults), and what it costs; "
        "exit 0 the same, 1 different, 2 trouble",
    )
    p.add_argument("old", metavar="A", help="a spec, or a run folder (its saved spec.yaml)")
    p.add_argument(
        "new",
        metavar="B",
        nargs="?",
        help="a spec or a run folder (default: A again, so that A --set K=V shows what the overrides change)",
    )
    _add_set(p, "applied to B")
    p.add_argument(
        "--draw",
        metavar="FILE",
        help="also draw B with the rows that differ from A highlighted (as archspec draw B --diff A -o FILE)",
    )
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser(
        "new",
        help="start a variant: a spec that extends another, with $schema and extends paths that work from where it is",
    )
    p.add_argument(
        "out", metavar="VARIANT", help="the new spec file, e.g. specs/variants/wide.yaml (never overwritten)"
    )
    p.add_argument("--extends", required=True, metavar="BASE", help="the spec it starts from")
    p.set_defaults(func=cmd_new)
    return parser


def _add_set(p: argparse.ArgumentParser, note: str = "") -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=override_arg,
        help=f"override a value, e.g. --set training.samples=2000 ({note + '; ' if note else ''}repeatable)",
    )


def _load_or_report(path: str, overrides: Sequence[str] = (), notes: bool = True):
    """The spec, or (None, exit status) after printing why not. A run folder stands for its spec.yaml."""
    try:
        if os.path.isdir(path):
            return _load_run(Path(path), overrides, notes), EXIT_OK
        spec, warnings = load_with_warnings(path, overrides)
        for warning in warnings:
            print(warning.format(), file=sys.stderr)
        return spec, EXIT_OK
    except FileNotFoundError as exc:
        print(f"archspec: error: {exc}", file=sys.stderr)
        return None, EXIT_USAGE
    except SpecError as exc:
        print(exc.report(), file=sys.stderr)
        return None, EXIT_INVALID


def _load_run(folder: Path, overrides: Sequence[str], say_notes: bool = True):
    """The spec a run folder saved, read under today's language (archspec.language.evolve)."""
    text, path, notes = run_spec(folder)
    for note in notes if say_notes else ():
        print(note, file=sys.stderr)
    return loads(text, filename=path, overrides=overrides)


def cmd_check(args: argparse.Namespace) -> int:
    from archspec.presenting.report import check_command

    if args.dry_run and not args.fix:
        print("archspec check: error: --dry-run goes with --fix", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run and args.format != "text":
        # a dry run's report would describe the fixed text while the file stays broken: a CI step
        # reading it would pass an invalid spec. The formats carry each problem's fix already.
        print(
            f"archspec check: error: --dry-run shows a diff, in text only; --format {args.format} without --fix "
            f"reports the file as it is, each problem with its fix as edits",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return check_command(args.specs, args.overrides, args.format, args.fix, args.dry_run)


def cmd_show(args: argparse.Namespace) -> int:
    spec, code = _load_or_report(args.spec, args.overrides)
    if spec is None:
        return code
    from archspec.presenting import show

    as_json = args.format == "json"
    if args.keys:
        from archspec.presenting.keys import keys, keys_text

        pairs = [{"key": k, "value": v} for k, v in keys(spec)]
        print(json.dumps(pairs, indent=2) if as_json else keys_text(spec))
    elif args.resolved:
        sys.stdout.write(json.dumps(to_data(spec), indent=2) + "\n" if as_json else dump_resolved(spec))
    elif args.sizes:
        print(json.dumps(show.sizes_data(spec), indent=2) if as_json else show.sizes_text(spec))
    else:
        print(json.dumps(show.summary_data(spec), indent=2) if as_json else show.summary_text(spec))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from archspec.presenting.schema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    old, code_old = _load_or_report(args.old)
    new, code_new = _load_or_report(args.new or args.old, args.overrides, notes=args.new is not None)
    if old is None or new is None:
        return EXIT_USAGE  # diff(1)'s "trouble": 1 means only that the two differ
    lines = report(old, new, to_data(old), to_data(new))
    print("\n".join(lines) if lines else "no differences")
    if args.draw is not None and _draw(new, old, args.draw, None) != EXIT_OK:
        return EXIT_USAGE
    return 1 if lines else EXIT_OK


def cmd_draw(args: argparse.Namespace) -> int:
    spec, code = _load_or_report(args.spec, args.overrides)
    if spec is None:
        return code
    other = None
    if args.diff is not None:
        other, code = _load_or_report(args.diff)
        if other is None:
            return code
    return _draw(spec, other, args.out, args.format)


def _draw(spec, other, out: str | None, fmt: str | None) -> int:
    """Write the drawing of ``spec`` (against ``other``) to ``out`` or stdout; 1 when it cannot."""
    import shutil
    import subprocess

    from archspec.presenting.draw import INSTALL_GRAPHVIZ, RENDERED, drawing, render, write_atomic

    ext = os.path.splitext(out)[1].lower().lstrip(".") if out else ""
    text_format = fmt or ("dot" if ext in ("dot", "gv", *RENDERED) else "mermaid")
    text = render(drawing(spec, against=other), text_format)
    if out is None:
        print(text, end="")
        return EXIT_OK
    if ext in RENDERED:
        dot = shutil.which("dot")
        if dot is None:
            print(f"archspec draw: error: {INSTALL_GRAPHVIZ}", file=sys.stderr)
            return EXIT_INVALID
        done = subprocess.run([dot, f"-T{ext}"], input=text.encode(), capture_output=True, timeout=300)
        if done.returncode != 0:
            print(f"archspec draw: error: dot failed: {done.stderr.decode(errors='replace').strip()}", file=sys.stderr)
            return EXIT_INVALID
        data = done.stdout
    else:
        data = (f"```mermaid\n{text}```\n" if ext == "md" and text_format == "mermaid" else text).encode()
    try:
        write_atomic(Path(out), data)
    except OSError as exc:
        print(f"archspec draw: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{out}: {spec.name}" + (f" against {other.name}" if other is not None else ""), file=sys.stderr)
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from archspec.presenting.variant import variant_text

    base, code = _load_or_report(args.extends)
    if base is None:
        return code
    out = args.out if os.path.splitext(args.out)[1] in (".yaml", ".yml") else args.out + ".yaml"
    try:
        text = variant_text(args.extends, Path(args.extends).read_text(encoding="utf-8"), base, out)
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "x", encoding="utf-8") as f:  # "x": an existing file is never overwritten
            f.write(text)
    except (ValueError, OSError) as exc:
        reason = f"{out} exists; not overwriting it" if isinstance(exc, FileExistsError) else str(exc)
        print(f"archspec new: error: {reason}", file=sys.stderr)
        return EXIT_USAGE
    spec, code = _load_or_report(out)
    if spec is None:
        return code
    print(f"{out}: a variant of {base.name}; write what changes, then: archspec diff {args.extends} {out}")
    return EXIT_OK
