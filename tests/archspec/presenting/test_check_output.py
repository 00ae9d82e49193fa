"""`archspec check --fix [--dry-run]` and `--format json|sarif|github`: what a person, an editor
and a CI job get, and the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archspec.language.errors import Problem
from archspec.presenting.report import github_line

ROOT = Path(__file__).resolve().parents[3]
TYPOS = ROOT / "examples" / "typos.yaml"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archspec", "check", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_fix_rewrites_the_file_keeping_everything_else(tmp_path):
    path = tmp_path / "typos.yaml"
    path.write_text(TYPOS.read_text())
    res = run("--fix", str(path))
    assert res.returncode == 0, res.stderr
    fixed = path.read_text()
    changed = [(a, b) for a, b in zip(TYPOS.read_text().splitlines(), fixed.splitlines()) if a != b]
    assert changed == [
        ("          - [Cnv, 8/16, 8, 4, _, _, _]", "          - [Conv, 8/16, 8, 4, _, _, _]"),
        ("          - [Conv, 16/2, 5, 1, _, _, ReLu]", "          - [Conv, 16/2, 5, 1, _, _, ReLU]"),
        ("          - {block: ResBlock, repaet: 2}", "          - {block: ResBlock, repeat: 2}"),
    ]
    assert "-          - [Cnv, 8/16, 8, 4, _, _, _]\n+          - [Conv, 8/16, 8, 4, _, _, _]\n" in res.stdout
    assert res.stdout.rstrip().endswith(f"fixed 3 problems in {path}\n{path}: ok (cvae: 3 networks, 19 rows)")
    assert run(str(path)).returncode == 0


def test_dry_run_leaves_the_file_and_says_what_would_change(tmp_path):
    path = tmp_path / "typos.yaml"
    path.write_text(TYPOS.read_text())
    res = run("--fix", "--dry-run", str(path))
    assert res.returncode == 0 and path.read_text() == TYPOS.read_text()
    assert (
        f"would fix 3 problems in {path}" in res.stdout
        and "ok (cvae: 3 networks, 19 rows) after these fixes" in res.stdout
    )
    assert run("--dry-run", str(path)).returncode == 2  # --dry-run goes with --fix
    for fmt in ("json", "sarif", "github"):  # a report of the fixed text would pass a broken file in CI
        res = run("--fix", "--dry-run", "--format", fmt, str(path))
        assert res.returncode == 2 and "--dry-run shows a diff, in text only" in res.stderr and not res.stdout


def test_fix_that_cannot_finish_exits_1_and_reports_what_is_left(tmp_path):
    path = tmp_path / "t.yaml"
    # 'model_extra' is close to 'model', but renaming it would make a duplicate key: no fix is offered
    text = TYPOS.read_text().replace("name: typos", "name: typos\nmodel_extra: 1")
    path.write_text(text)
    res = run("--fix", str(path))
    assert res.returncode == 1
    assert "unknown key 'model_extra'" in res.stderr and "fixed" in res.stdout
    assert "model_extra: 1" in path.read_text() and "[Cnv," not in path.read_text()  # what could be fixed was


def test_json_gives_every_problem_with_its_fixes_as_edits():
    res = run("--format", "json", str(TYPOS.relative_to(ROOT)))
    assert res.returncode == 1
    data = json.loads(res.stdout)
    (entry,) = data["files"]
    assert entry["file"] == "examples/typos.yaml" and entry["valid"] is False
    first = entry["problems"][0]
    assert {k: first[k] for k in ("code", "severity", "line", "col", "path", "fix")} == {
        "code": "unknown_layer",
        "severity": "error",
        "line": 31,
        "col": 14,
        "path": "model.networks.recognition.B.table[1].layer",
        "fix": "did you mean 'Conv'?",
    }
    assert first["fixes"] == [
        {
            "title": "did you mean 'Conv'?",
            "applicability": "checked",
            "edits": [
                {"file": "examples/typos.yaml", "line": 31, "col": 14, "end_line": 31, "end_col": 17, "text": "Conv"}
            ],
        }
    ]


def test_sarif_results_carry_location_and_replacements():
    res = run("--format", "sarif", str(TYPOS.relative_to(ROOT)))
    sarif = json.loads(res.stdout)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "archspec"
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["unknown_layer", "unknown_activation", "unknown_key"]
    region = results[2]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 55, "startColumn": 31}
    replacement = results[2]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement == {
        "deletedRegion": {"startLine": 55, "startColumn": 31, "endLine": 55, "endColumn": 37},
        "insertedContent": {"text": "repeat"},
    }
    assert {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]} == {r["ruleId"] for r in results}


def test_github_annotations_escape_what_the_workflow_syntax_needs():
    res = run("--format", "github", str(TYPOS.relative_to(ROOT)))
    lines = res.stdout.splitlines()
    assert lines[0] == (
        "::error file=examples/typos.yaml,line=31,col=14,title=archspec unknown_layer::"
        "model.networks.recognition.B.table[1].layer: unknown layer 'Cnv'; expected one of Conv, ConvTransp%0A"
        "fix: did you mean 'Conv'?"
    )
    odd = Problem("x", ("a",), "50% done\nnext", file="a,b:c.yaml", line=2, col=3, severity="warning")
    assert github_line(odd) == "::warning file=a%2Cb%3Ac.yaml,line=2,col=3,title=archspec x::a: 50%25 done%0Anext"


def test_valid_specs_in_every_format_exit_0():
    for fmt in ("text", "json", "sarif", "github"):
        res = run("--format", fmt, "specs/quickstart.yaml")
        assert res.returncode == 0, (fmt, res.stderr)
    assert json.loads(run("--format", "json", "specs/quickstart.yaml").stdout)["files"][0]["valid"] is True


def test_unreadable_spec_is_a_usage_error_in_every_format(tmp_path):
    for fmt in ("text", "json"):
        res = run("--format", fmt, str(tmp_path / "nope.yaml"))
        assert res.returncode == 2 and "Traceback" not in res.stderr


def test_fix_of_a_spec_from_an_override_leaves_the_override_alone(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text((ROOT / "specs" / "quickstart.yaml").read_text())
    res = run("--fix", str(path), "--set", "model.networks.prior.A.table[1].kernel=7")
    assert res.returncode == 1 and "--set model.networks.prior.A.table[1].kernel=7: error" in res.stderr
    assert path.read_text() == (ROOT / "specs" / "quickstart.yaml").read_text()


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_machine_formats_report_warnings_too(fmt):
    res = run("--format", fmt, "specs/quickstart.yaml", "--set", "training.samples=60000")  # its own value
    assert res.returncode == 0 and "unused_override" in res.stdout


def test_fixes_are_searched_and_applied_without_torch(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text((ROOT / "examples" / "seed_as_printed.yaml").read_text())
    code = (
        "import sys, archspec.cli\n"
        f"assert archspec.cli.main(['check', {str(path)!r}]) == 1\n"
        f"assert archspec.cli.main(['check', '--fix', {str(path)!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'archspec check imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_fix_of_a_variant_edits_the_variant_never_its_base(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "examples" / "variants").mkdir(parents=True)
    base = tmp_path / "specs" / "quickstart.yaml"
    base.write_text((ROOT / "specs" / "quickstart.yaml").read_text())
    variant = tmp_path / "examples" / "variants" / "narrow.yaml"
    variant.write_text((ROOT / "examples" / "variants" / "narrow.yaml").read_text())
    res = run("--fix", "examples/variants/narrow.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert base.read_text() == (ROOT / "specs" / "quickstart.yaml").read_text()
    assert "model.networks.generator.B.table[4]: [ConvTransp, 32/16, 4, 2, F, T, ReLU]" in variant.read_text()
