"""Spec files read safely (issue 19): size refused before reading, bases only from the project,
huge and non-finite numbers refused at their line and column."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from tests.spec_texts import BASE

SCRIPT = "import sys; from archspec.cli import main; sys.exit(main(sys.argv[1:]))"


def check(*args, env=None, mem_mb=None, cwd=None):
    """archspec check in a child process, optionally under an address-space limit."""

    def limit():
        if mem_mb:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "check", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=limit,
        cwd=cwd,
        timeout=120,
    )
    done.out = done.stdout + done.stderr  # the report goes to stderr
    return done


def test_a_3_gb_spec_and_dev_zero_are_refused_in_bounded_memory(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:  # sparse: 3 GB on paper, nothing on disk
        f.truncate(3 << 30)
    for target in (big, "/dev/zero"):
        done = check(target, mem_mb=700)  # reading either whole would need 3 GB or forever
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.out
    assert "at most 2,000,000 bytes, found 3,221,225,472 bytes" in check(big).out
    assert "found a character device" in check("/dev/zero").out


def test_a_base_that_is_huge_or_no_file_is_refused_before_reading(tmp_path):
    (tmp_path / "big.yaml").open("wb").truncate(3 << 30)
    (tmp_path / "v.yaml").write_text("extends: big.yaml\nname: v\n")
    done = check(tmp_path / "v.yaml", mem_mb=700)
    assert done.returncode == 1 and "v.yaml:1:10" in done.out and "at most 2,000,000 bytes" in done.out


def test_extends_outside_the_project_is_refused_without_echoing_the_file(tmp_path):
    secret = tmp_path / "outside" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text("password: hunter2\nmore: text\n")
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    spec = project / "specs" / "v.yaml"
    for target in ("/etc/passwd", str(secret), "../../outside/secret.yaml"):
        spec.write_text(f"extends: {target}\nname: v\n")
        done = check(spec)
        assert done.returncode == 1
        assert "v.yaml:1:10" in done.out, done.out
        assert "hunter2" not in done.out and "root:" not in done.out
    # a link inside the project to a file outside is judged by where it leads
    (project / "specs" / "link.yaml").symlink_to(secret)
    spec.write_text("extends: link.yaml\nname: v\n")
    assert "outside the spec's project" in check(spec).out
    # the environment variable widens the rule on purpose: then the base is read (and is no spec)
    done = check(spec, env={"ARCHSPEC_BASES": str(secret.parent)})
    assert "outside the spec's project" not in done.out and done.returncode == 1


def test_a_base_in_the_project_above_the_variant_folder_is_fine(tmp_path):
    (tmp_path / ".archspec-root").write_text("")
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "v.yaml").write_text("extends: ../../base.yaml\nname: v\n")
    done = check(tmp_path / "a" / "b" / "v.yaml")
    assert done.returncode == 0, done.out


@pytest.mark.parametrize(
    "line, where, says",
    ids=["huge-int", "inf", "nan"],
    argvalues=[
        ("  samples: 0x" + "f" * 5000, "4:12", "an integer of 20,000 bits"),
        ("  beta: 1e999999", "4:9", "expected a finite number, found inf"),
        ("  beta: .nan", "4:9", "expected a finite number"),
    ],
)
def test_huge_and_non_finite_numbers_are_refused_at_their_line_and_column(tmp_path, line, where, says):
    spec = tmp_path / "n.yaml"
    spec.write_text("archspec: 1\nname: n\ntraining:\n" + line + "\n")
    done = check(spec)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"n.yaml:{where}:" in done.out and says in done.out, done.out
