"""`archspec show`: the paper model's numbers equal the compiled module's; JSON layout; sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archspec
from archspec.cli import main
from archspec.presenting import show

ROOT = Path(__file__).resolve().parents[3]
PAPER = ROOT / "specs" / "paper_cvae.yaml"


@pytest.fixture(scope="module")
def paper():
    return archspec.load(PAPER)


def test_paper_numbers_equal_the_compiled_module(paper):
    data = show.summary_data(paper)
    with torch.device("meta"):  # shapes and parameter counts without computing anything
        model = archspec.build(paper)
        x, y = torch.empty(1, 1, 512, 512), torch.empty(1, 2, 512, 512)
        outputs = {"recognition": model.recognition(x=x, y=y), "prior": model.prior(y=y)}
        outputs["generator"] = model.generator(z=outputs["prior"][0], y=y)
    for name, net in data["networks"].items():
        assert net["params"] == sum(p.numel() for p in getattr(model, name).parameters())
        out = outputs[name]
        shape = list(out.shape[1:]) if name == "generator" else [2 * out[0].shape[1], *out[0].shape[2:]]
        assert net["output"] == shape
    assert data["params"] == sum(p.numel() for p in model.parameters()) == 1_662_961
    assert {n: d["params"] for n, d in data["networks"].items()} == {
        "recognition": 85_732,
        "prior": 42_932,
        "generator": 1_534_297,
    }


def test_json_layout(paper):
    data = show.summary_data(paper)
    layers = {(r["part"], r["index"]): r for r in data["networks"]["generator"]["layers"]}
    layer = layers["B", 3]
    assert layer["part"] == "B" and layer["index"] == 3 and layer["layer"] == "Conv"
    assert layer["in"] == [64, 128, 128] and layer["out"] == [128, 64, 64]
    assert layer["padding"] == 1 and layer["params"] == 64 * 128 * 16 + 2 * 128
    assert layer["macs"] == 64 * 128 * 16 * 64 * 64
    assert layer["memory"] == 3 * 128 * 64 * 64 * 4  # conv, BatchNorm and ReLU outputs, float32
    block = layers["B", 4]
    assert block["layer"] == "ResBlock" and block["repeat"] == 4 and len(block["rows"]) == 8
    assert block["rows"][3]["path"] == "B.4.1.1"
    assert json.loads(json.dumps(data)) == data


def test_text_table(paper):
    text = show.summary_text(paper)
    assert text.splitlines()[0].startswith("paper_cvae (cvae): 1,662,961 parameters")
    assert "generator(z, y) → [1, 512, 512]" in text
    assert "[64, 128, 128] → [128, 64, 64]" in text
    assert "ResBlock ×4 ReLU" in text and "1,181,696" in text
    assert "202 x, 202 y" in text  # recognition part C sees 202 pixels of x and of y
    assert "!" not in text


def test_dropped_pixels_are_marked():
    text = PAPER.read_text().replace(
        "shapes: {x: [1, 512, 512], y: [2, 512, 512], z: [1, 16, 16]}",
        "shapes: {x: [1, 514, 514], y: [2, 514, 514], z: [1, 16, 16]}",
    )
    spec = archspec.loads(
        text,
        overrides=[  # 514 = (128 - 1)·4 - 2·1 + 8 = (256 - 1)·2 - 0 + 4
            "model.networks.generator.A.table[2]=[ConvTransp, 1/1, 8, 4, F, T, ReLU, 1]",
            "model.networks.generator.B.table[7]=[ConvTransp, 32/16, 4, 2, F, T, ReLU, 0]",
            "data.tile=514",  # training tiles are x's size
        ],
    )
    text = show.summary_text(spec)
    assert "[8, 257, 257] → [16, 64, 64]!" in text
    assert "! recognition.A.1 Conv leaves 1 pixel(s) of 257 unread along H and W" in text


def test_sizes_of_the_paper(paper):
    data = show.sizes_data(paper)
    assert data["pattern"] == "every multiple of 32 from 32 to 4096"
    assert data["tied"] == {"x": "H", "y": "H", "z": "H/32"}
    assert data["spec_valid"] and data["nearest"] == {"below": 480, "above": 544}
    text = show.sizes_text(paper)
    assert "every multiple of 32 from 32 to 4096 (128 sizes)" in text and "480 below, 544 above" in text


def test_pattern():
    assert show.pattern([]) == "none"
    assert show.pattern([7]) == "only 7"
    assert show.pattern([5, 6, 7]) == "every size from 5 to 7"
    assert show.pattern([9, 13, 17]) == "every size 1 more than a multiple of 4, from 9 to 17"
    assert show.pattern([8, 16, 32]) == "8, 16, 32 (all multiples of 8; not every multiple)"


def test_cli_show_json(capsys):
    assert main(["show", str(PAPER), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 1_662_961 and data["networks"]["prior"]["output"] == [2, 16, 16]
    assert main(["show", str(PAPER), "--sizes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 128


def test_cli_show_of_a_broken_spec_exits_1(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(PAPER.read_text().replace("[Conv, 8/16, 8, 4, _, _, _]", "[Conv, 16/16, 8, 4, _, _, _]", 1))
    done = subprocess.run([sys.executable, "-m", "archspec", "show", str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and "row says 16 channels in, the incoming tensor has 8" in done.stderr
