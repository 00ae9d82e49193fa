"""What is not trusted cannot act: a spec cannot import or call anything, a tampered checkpoint
is refused without running its payload, and names that come from data never lead outside
their folder (SECURITY.md says what is and is not trusted)."""

from __future__ import annotations

import ast
import os
import pickle
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import archspec
from archspec.language.errors import SpecError
from runner import checkpoint as ck
from runner.cli import main as runner_main
from runner.runtime import child
from runner.train.retention import prune
from tests.readme import quoted
from tests.spec_texts import BASE, locate

ROOT = Path(__file__).resolve().parents[1]


def problems(text: str, overrides=()) -> list:
    with pytest.raises(SpecError) as err:
        archspec.loads(text, filename="t.yaml", overrides=overrides)
    return err.value.problems


# --- specs are data --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/name:os.system",
        "!!python/module:os",
        "!include",
        "!!python/object:builtins.eval",
    ],
)
def test_yaml_tags_that_would_construct_objects_are_refused_at_their_position(tag, tmp_path):
    sentinel = tmp_path / "ran"
    text = BASE.replace("name: tiny", f'name: {tag} ["touch {sentinel}"]')
    [p] = problems(text)
    assert p.code == "yaml_tag" and (p.line, p.col) == locate(text, tag) and "never code or objects" in p.fix
    assert not sentinel.exists()


@pytest.mark.parametrize(
    "edit, code",
    [
        (("[Conv, 1/4, 4, 2, F, T, ReLU]", "[torch.nn.Conv2d, 1/4, 4, 2, F, T, ReLU]"), "unknown_layer"),
        (("[Conv, 1/4, 4, 2, F, T, ReLU]", "[Conv, 1/4, 4, 2, F, T, os.system]"), "unknown_activation"),
        (("[Conv, 1/4, 4, 2, F, T, ReLU]", "[__import__, 1/4, 4, 2, F, T, ReLU]"), "unknown_layer"),
        (("kind: cvae", "kind: builtins.eval"), "unknown_kind"),
        (("{block: Res, repeat: 2}", "{block: __class__, repeat: 2}"), "unknown_block"),
        (
            ("[Conv, 1/4, 4, 2, F, T, ReLU]", "{layer: Conv, channels: 1/4, kernel: 4, stride: 2, __class__: x}"),
            "unknown_key",
        ),
        (("name: tiny", "name: tiny\n__class__: {__init__: os.system}"), "unknown_key"),
    ],
)
def test_names_in_a_spec_are_looked_up_in_registries_never_imported(edit, code):
    text = BASE.replace(*edit, 1)
    assert [p.code for p in problems(text)] == [code]


@pytest.mark.parametrize("item", ["__class__=1", "model.__dict__.x=1", "training.__init__=os.system", "name=.."])
def test_overrides_cannot_reach_attributes(item):
    found = problems(BASE, [item])
    assert found and all(p.file == f"--set {item}" for p in found)


def test_aliases_of_aliases_are_refused_before_they_expand():
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )  # 10^9 values once expanded
    text = BASE + "extra:\n" + "".join(f"  {line}\n" for line in bomb.splitlines())
    start = time.monotonic()
    [p] = problems(text)
    assert p.code == "yaml_size" and "100,000 values" in p.message and time.monotonic() - start < 20


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "-rf", "a/b", "a\\b", ""])
def test_a_spec_name_is_one_plain_folder_name(name):
    text = BASE.replace("name: tiny", f"name: {name!r}")
    assert [p.code for p in problems(text)] in (["string_pattern_mismatch"], ["string_too_short"])


@given(st.text(max_size=12))
def test_a_name_from_data_never_leads_outside_its_folder(name):
    folder = Path("/srv/runs")
    try:
        path = child(folder, name)
    except ValueError:
        return
    assert path.parent == folder and os.path.normpath(path) == str(path) and path.name == name


def test_retention_never_deletes_through_a_link_out_of_the_run(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    for s in (1, 2, 3):
        (run / f"checkpoint-{s}.pt").write_bytes(b"x")
    (run / "eval" / "1").symlink_to(outside, target_is_directory=True)
    (run / "checkpoint-0.pt").symlink_to(outside / "precious.txt")
    prune(run, keep_last=1, every=None)
    assert (outside / "precious.txt").read_text() == "keep"


# --- checkpoints are data --------------------------------------------------------------------------


class Payload:
    """Runs a command when unpickled (the classic pickle attack)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def tampered(path: Path, sentinel: Path, legacy: bool = False) -> Path:
    state = {
        ck.KEY_FORMAT: ck.FORMAT,
        ck.KEY_FORMAT_VERSION: ck.FORMAT_VERSION,
        ck.KEY_MODEL: {"w": torch.zeros(2)},
        ck.KEY_OPTIMIZER: Payload(f"touch {sentinel}"),
    }
    if legacy:  # torch's pre-1.6 format: a bare pickle stream
        torch.save(state, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(state, path)
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_a_checkpoint_with_a_pickle_payload_is_refused_without_running_it(tmp_path, legacy):
    sentinel = tmp_path / "ran"
    path = tampered(tmp_path / "checkpoint-8.pt", sentinel, legacy)
    with pytest.raises(ck.CheckpointError, match="unreadable") as err:
        ck.read(path)
    assert "\n" not in str(err.value) and not sentinel.exists()
    assert "weights_only" not in str(err.value)  # torch's advice to load it unsafely is never passed on
    if not legacy:
        assert "posix.system" in str(err.value) or "nt.system" in str(err.value)  # the object is named
    with pytest.raises(pickle.UnpicklingError):  # what weights_only=False would have allowed is refused by torch itself
        torch.load(path, weights_only=True)
    assert not sentinel.exists()


def test_commands_given_a_tampered_checkpoint_exit_1_without_running_it(tiny, tmp_path, capsys):
    sentinel = tmp_path / "ran"
    path = tampered(tmp_path / "checkpoint-8.pt", sentinel)
    (tmp_path / "dm.h5").write_bytes(b"")
    assert (
        runner_main(["paint", str(path), "--input", str(tmp_path / "dm.h5"), "--output", str(tmp_path / "p.h5")]) == 1
    )
    assert runner_main(["evaluate", str(path), "--out", str(tmp_path / "eval")]) == 1
    run = tmp_path / "run"
    run.mkdir()
    tampered(run / "checkpoint-8.pt", sentinel)
    assert runner_main(["train", str(tiny), "--out", str(run), "--resume", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("runner: error:") == 3 and not sentinel.exists()
    assert quoted("runner: error: cannot resume: no usable").search(err)  # as the README quotes it


def test_the_code_never_unpickles_evaluates_or_imports_by_name():
    """Every torch.load passes weights_only=True; no eval, exec, pickle.load or unsafe yaml.load,
    and every Unpickler subclass decides itself which globals it gives (find_class); modules are
    imported by name only from fixed tables (runner's, the CLI's and runner.data's)."""
    fixed_tables = {"runner/__init__.py", "runner/cli/__init__.py", "runner/data/__init__.py"}
    found = []
    for path in sorted([*ROOT.glob("archspec/**/*.py"), *ROOT.glob("runner/**/*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any("Unpickler" in ast.unparse(b) for b in node.bases):
                if not any(isinstance(f, ast.FunctionDef) and f.name == "find_class" for f in node.body):
                    found.append(f"{rel}: {node.name} unpickles without its own find_class")
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if name == "torch.load" and kwargs.get("weights_only") != "True":
                found.append(f"{rel}: torch.load without weights_only=True")
            if name in (
                "eval",
                "exec",
                "compile",
                "__import__",
                "pickle.load",
                "pickle.loads",
                "yaml.load",
                "yaml.unsafe_load",
                "yaml.full_load",
                "marshal.loads",
            ):
                found.append(f"{rel}: {name}")
            if name == "importlib.import_module" and rel not in fixed_tables:
                found.append(f"{rel}: importlib.import_module")
    assert found == []


@given(st.lists(st.text(max_size=20), min_size=1, max_size=4))
def test_a_sweep_folder_named_after_any_settings_stays_in_the_sweep(parts):
    from runner.experiments.sweep import folder_name

    name = folder_name(parts)
    assert child(Path("/srv/sweep"), name).parent == Path("/srv/sweep")  # never raises: one plain name
