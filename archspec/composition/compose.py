"""``extends:``: a spec that starts from another spec and says only what it changes.

    # yaml-language-server: $schema=../schema.json
    extends: ../paper_cvae.yaml                 # relative to this file's folder
    name: free_latent
    model:
      networks:
        recognition.C.table[0]: [Conv, 64/2, 5, 1, F, F, none]   # a row, by index
        prior.A.table[3].activation: none                       # one cell
    training: {beta: 0.5}                                       # mappings merge key by key

The base is resolved first (chains of extends work), then this file's keys are applied to it as
edits (:mod:`archspec.composition.edits` has the grammar: paths, ``~`` to remove, ``+`` to insert rows). The
result is one flat spec: it is what is validated, hashed and saved in a run folder, so a run
never depends on its base file staying as it was.

``name`` and ``description`` say what a file is, so they are not inherited: a spec that extends
another without a ``name`` is named after its file (``free_latent.yaml`` -> ``free_latent``).

Every node keeps the file, line and column it came from (:mod:`archspec.text.located`): an error in
an inherited row names the base file and its line, an error in an override names this file. (A
composed configuration whose errors name only the key, as OmegaConf's merges do, leaves the user
to guess which of several files to open.) A missing base, a cycle of extends, and an override of
something the base lacks are errors at the ``extends`` or override key of the file that says it.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from archspec.composition.edits import apply, collect
from archspec.language.errors import Problem
from archspec.text.files import MAX_SPEC_BYTES, Unreadable, check_base, read_bounded
from archspec.text.located import Node, Where, document, tree
from archspec.text.yamlpos import Document, YamlProblems, parse

MAX_CHAIN = 16  # bases above bases; more is a mistake (or a cycle through different spellings)
MAX_BYTES = MAX_SPEC_BYTES  # as archspec.load's limit for one spec file
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_OWN_KEYS = ("name", "description")  # what a file says about itself: never inherited


def extends(data: object) -> bool:
    """Does this document extend another?"""
    return isinstance(data, dict) and "extends" in data


def resolve_extends(doc: Document, filename: str) -> tuple[Document | None, list[Problem]]:
    """The document with its chain of ``extends`` applied, and the problems found doing so.

    A document without ``extends`` comes back as it is. None instead of a document: the chain
    could not be resolved (a missing base, a cycle), so there is no spec to check further.
    """
    if not extends(doc.data):
        return doc, []
    problems: list[Problem] = []
    applied: list = []
    own = os.path.abspath(filename) if os.path.exists(filename) else None
    root = _compose(tree(doc, filename), filename, (own,) if own else (), problems, applied)
    if root is None:
        return None, problems
    composed = document(root, doc.problems)
    composed.edits = applied
    return composed, problems


def inherited(problems: list[Problem], filename: str) -> list[Problem]:
    """Problems placed in a base file say which spec inherited them: the user checked ``filename``."""
    return [
        replace(p, message=f"{p.message} (inherited by {filename})")
        if p.line and p.file not in (filename, Problem.file)
        else p
        for p in problems
    ]


def blame(problems: list[Problem], filename: str, edits: list, alone) -> list[Problem]:
    """Problems placed in a base file, told apart by checking that base on its own (``alone(file)``:
    its problems, cached by the caller):

    - the base has it too: inherited; its own fix (what checking the base directly would say) is
      given, naming the file to change, where the checked file found none;
    - the base is clean of it: an edit of the chain caused it (a ``~`` removal, an insertion, a
      changed row before it). The problem moves to that edit's key (the nearest edit of the same
      network part, structural edits first), saying which base row fails and that the base alone
      is clean; the summary then counts it in the file that made the edit.
    """
    out = []
    for p in problems:
        if not p.line or p.file in (filename, Problem.file) or p.severity != "error":
            out.append(p)
            continue
        own = [q for q in alone(p.file) if (q.code, q.loc) == (p.code, p.loc)]
        if own:
            none_found = p.fix is None or p.fix.startswith("none found")
            fix = f"{own[0].fix} (in {p.file}, which has this problem itself)" if own[0].fix and none_found else p.fix
            out.append(replace(p, fix=fix))
            continue
        culprit = _culprit(p.loc, edits)
        if culprit is None:
            out.append(p)
            continue
        file, line, col = culprit.key
        message = p.message.replace(f" (inherited by {filename})", "")
        out.append(
            replace(
                p,
                file=file,
                line=line,
                col=col,
                message=f"{message} — after the edit {culprit.text}: {p.file} alone checks clean (this is "
                f"at {p.file}:{p.line}:{p.col} there)",
                fix=p.fix if p.fixes else "change or undo this edit, or override the row that fails",
            )
        )
    return out


_SHARED = {("model", "shapes"), ("model", "defaults"), ("model", "blocks"), ("model", "scale")}


def _culprit(loc: tuple, edits: list):
    """The edit most likely to have broken ``loc``: of the same network part (or block), removals
    and insertions first, then the nearest changed row before it; None when no edit is near."""
    part = tuple(loc[:4]) if loc[:2] == ("model", "networks") else tuple(loc[:3])
    near = [e for e in edits if tuple(e.path[: len(part)]) == part]
    if not near and loc[:2] == ("model", "networks"):  # an earlier part of the network feeds this one
        near = [e for e in edits if tuple(e.path[:3]) == tuple(loc[:3])]
    if not near:  # what every network reads: the model's tensors, defaults, blocks, scale
        near = [e for e in edits if tuple(e.path[:2]) in _SHARED]
    if not near:
        return None
    row = loc[len(part) + 1] if len(loc) > len(part) + 1 and isinstance(loc[len(part) + 1], int) else None

    def rank(edit):
        index = edit.path[len(part) + 1] if len(edit.path) > len(part) + 1 else None
        after = isinstance(index, int) and row is not None and index > row  # an edit after the row cannot feed it
        return (after, edit.op == "set", -(index if isinstance(index, int) else -1))

    return min(near, key=rank)


def base_path(child_file: str, target: str) -> str:
    """The base's path as the user sees it: ``specs/variants/../paper_cvae.yaml`` -> ``specs/paper_cvae.yaml``."""
    return os.path.normpath(os.path.join(os.path.dirname(child_file), target))


def _compose(
    child: Node, file: str, chain: tuple[str, ...], problems: list[Problem], applied: list | None = None
) -> Node | None:
    """``child`` (a file's tree) with its base applied beneath it; None if the chain is broken."""
    ext = child.value.get("extends")
    where = ext.at if ext is not None else child.at
    if not isinstance(ext.value, str) or not ext.value.strip():
        problems.append(
            _at(
                where,
                "extends_type",
                f"expected the path of a spec file, relative to this file, found {_found(ext.value)}",
                "write extends: ../paper_cvae.yaml",
            )
        )
        return None
    label = base_path(file, ext.value.strip())
    real = os.path.abspath(label)
    if real in chain:
        loop = " -> ".join([*(_short(c) for c in chain[chain.index(real) :]), _short(real)])
        problems.append(
            _at(
                where,
                "extends_cycle",
                f"a cycle of extends: {loop}",
                "a spec cannot extend itself, directly or through its bases",
            )
        )
        return None
    if len(chain) >= MAX_CHAIN:
        problems.append(
            _at(where, "extends_chain", f"a chain of more than {MAX_CHAIN} bases", "extend a spec nearer the root")
        )
        return None
    try:
        check_base(label, chain[0] if chain else file)
    except Unreadable as exc:
        problems.append(_at(where, "extends_outside", str(exc), exc.fix))
        return None
    base = _read(label, where, problems)
    if base is None:
        return None
    if extends(base.value):
        base = _compose(base, label, chain + (real,), problems, applied)
        if base is None:
            return None
    for key in _OWN_KEYS:
        base.value.pop(key, None)
    edits, found = collect(child, base)
    problems += found + apply(base, edits)
    if applied is not None:
        applied.extend(edits)  # for blame: an error in a base's row may be an edit's doing (blame())
    if "name" not in base.value:
        _name_after_file(base, file, ext)
    base.at = child.at  # what the whole spec lacks (a required key) is this file's to add
    return base


def _read(label: str, where: Where, problems: list[Problem]) -> Node | None:
    """The located tree of the base file ``label``, or None after saying why not."""
    try:
        raw = read_bounded(label, MAX_BYTES, "a base spec")
    except Unreadable as exc:
        problems.append(_at(where, "extends_missing", str(exc), exc.fix))
        return None
    except OSError as exc:
        reason = "it does not exist" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
        problems.append(
            _at(
                where,
                "extends_missing",
                f"cannot read the base spec {label}: {reason}",
                f"extends is relative to this file's folder ({os.path.dirname(where[0]) or '.'})",
            )
        )
        return None
    try:
        doc = parse(raw.decode("utf-8"))
    except UnicodeDecodeError:
        problems.append(_at(where, "extends_missing", f"the base spec {label} is not UTF-8 text", "save it as UTF-8"))
        return None
    except YamlProblems as exc:
        problems.extend(p.at(label, p.line or 1, p.col or 1) for p in exc.problems)
        return None
    problems.extend(p.at(label, p.line or 1, p.col or 1) for p in doc.problems)
    if not isinstance(doc.data, dict) or not ({"archspec", "extends"} & set(doc.data)):
        # say nothing of what it holds: extends must not print files that are not specs
        problems.append(
            _at(
                where,
                "extends_type",
                f"expected the base {label} to be an archspec spec (a mapping with "
                "'archspec:' or 'extends:'), found another kind of file",
                "extends names another spec's YAML file",
            )
        )
        return None
    return tree(doc, label)


def _name_after_file(base: Node, file: str, ext: Node) -> None:
    """A spec that extends another is named after its file unless it says otherwise."""
    stem = Path(file).stem
    if NAME.match(stem):
        at = ext.key_at or ext.at
        base.value["name"] = Node(stem, at, at)


def _short(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith(".." + os.sep + "..") else path


def _found(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _at(where: Where, code: str, message: str, fix: str | None = None) -> Problem:
    return Problem(code, ("extends",), message, fix, file=where[0], line=where[1], col=where[2])
