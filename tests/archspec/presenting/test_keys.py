"""`archspec show SPEC --keys`: every key listed is one --set accepts, holding the value listed.

The oracle is the loader itself: setting each listed key to its listed value must load and leave
the spec's hash unchanged (a wrong key is refused, a wrong value changes the hash)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.presenting.keys import format_value, keys

ROOT = Path(__file__).resolve().parents[3]
SPECS = ["quickstart.yaml", "paper_cvae.yaml", "regression.yaml", "variants/quickstart/free_latent.yaml"]


@pytest.mark.parametrize("name", SPECS)
def test_every_listed_key_is_accepted_with_the_value_it_holds(name):
    """Every key of the quickstart; every fifth of the others (each load is a full check)."""
    path = ROOT / "specs" / name
    spec = archspec.load(path)
    listed = keys(spec)
    assert len({k for k, _ in listed}) == len(listed) > 50
    for key, value in listed if name == "quickstart.yaml" else listed[::5]:
        again = archspec.load(path, [f"{key}={format_value(value)}"])
        assert archspec.spec_hash(again) == archspec.spec_hash(spec), key


def test_fields_held_at_their_defaults_are_listed_and_a_listed_change_takes_effect():
    path = ROOT / "specs" / "paper_cvae.yaml"
    listed = dict(keys(archspec.load(path)))
    assert listed["training.likelihood.space"] == "shift_log" and listed["training.calibration"] == "none"
    assert listed["model.networks.generator.B.table[4].repeat"] == 4  # the paper's ResBlocks
    changed = archspec.load(path, ["model.networks.generator.B.table[4].repeat=2"])
    assert changed.model.networks["generator"].parts["B"].table[4].repeat == 2


def test_the_command_prints_the_keys_as_text_and_as_json(capsys):
    assert main(["show", str(ROOT / "specs" / "quickstart.yaml"), "--keys"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert any(line.startswith("training.calibration") and line.endswith("= pressure_mean") for line in text)
    assert text[-1].endswith("keys; set any with --set KEY=VALUE)")
    assert main(["show", str(ROOT / "specs" / "quickstart.yaml"), "--keys", "--format", "json"]) == 0
    pairs = json.loads(capsys.readouterr().out)
    assert {"key": "model.shapes.z", "value": [1, 8, 8]} in pairs and len(pairs) == len(text) - 1
