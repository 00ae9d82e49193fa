"""`archspec` command line: check | show | schema | diff.

Exit status: 0 when all is well, 1 when a spec is invalid, 2 for usage errors (a missing file,
an unknown option). `archspec check` never imports torch: checking a spec is instant.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from archspec.diff import diff_data
from archspec.errors import SpecError
from archspec.load import load, override_arg, to_data
from archspec.overrides import report_unused

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `archspec show | head`
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archspec", description="Validate, inspect and export archspec specs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("check", help="validate specs and prove their shapes flow")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    _add_set(p)
    p.add_argument("--fix", action="store_true", help="apply each problem's best checked fix in place, print the diff, check again")
    p.add_argument("--dry-run", action="store_true", help="with --fix: print the diff, leave the files as they are")
    p.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text",
                   help="json, sarif or github (annotations): problems and fixes as edits, for editors and CI")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("show", help="per-layer shapes, parameters, multiply-adds, memory, receptive field")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--json", action="store_true", help="print the same data as JSON")
    p.add_argument("--sizes", action="store_true", help="list the input sizes for which the whole model flows")
    _add_set(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec language")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("diff", help="what differs between two specs, key by key (after defaults)")
    p.add_argument("old", metavar="SPEC_A")
    p.add_argument("new", metavar="SPEC_B")
    p.set_defaults(func=cmd_diff)
    return parser


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", type=override_arg,
                   help="override a value, e.g. --set training.samples=2000 (repeatable)")


def _load_or_report(path: str, overrides: Sequence[str] = ()):
    """The spec, or (None, exit status) after printing why not."""
    try:
        spec = load(path, overrides)
        for warning in report_unused(path, overrides):
            print(warning, file=sys.stderr)
        return spec, EXIT_OK
    except FileNotFoundError as exc:
        print(f"archspec: error: {exc}", file=sys.stderr)
        return None, EXIT_USAGE
    except SpecError as exc:
        print(exc.report(), file=sys.stderr)
        return None, EXIT_INVALID


def cmd_check(args: argparse.Namespace) -> int:
    from archspec.report import check_command

    if args.dry_run and not args.fix:
        print("archspec check: error: --dry-run goes with --fix", file=sys.stderr)
        return EXIT_USAGE
    return check_command(args.specs, args.overrides, args.format, args.fix, args.dry_run)


def cmd_show(args: argparse.Namespace) -> int:
    spec, code = _load_or_report(args.spec, args.overrides)
    if spec is None:
        return code
    from archspec import show

    if args.sizes:
        print(json.dumps(show.sizes_data(spec), indent=2) if args.json else show.sizes_text(spec))
    else:
        print(json.dumps(show.summary_data(spec), indent=2) if args.json else show.summary_text(spec))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from archspec.schema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    old, code_old = _load_or_report(args.old)
    new, code_new = _load_or_report(args.new)
    if old is None or new is None:
        return max(code_old, code_new)
    changes = list(diff_data(to_data(old), to_data(new)))
    for path, before, after in changes:
        print(f"{path}: {json.dumps(before, ensure_ascii=False)} -> {json.dumps(after, ensure_ascii=False)}")
    if not changes:
        print("no differences")
    return EXIT_OK
