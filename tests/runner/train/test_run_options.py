"""Run options are defined once (runner.train.options.RunOptions) and `runner train`'s flags are
made from them: every flag lands in its field, and the values a user types are checked by the
field's own rule."""

from __future__ import annotations

import argparse

import pytest

from runner.cli import train as train_cli
from runner.cli.args import model_options
from runner.train.options import RunOptions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runner train", add_help=False, exit_on_error=False)
    train_cli.add_arguments(parser)
    return parser


def test_every_flag_reaches_its_option():
    line = (
        "s.yaml --device cpu --no-data-on-device --precision fp32 --compile --no-cuda-graphs --channels-last "
        "--threads 3 --sync-every 4 --progress-every 500 --quiet --label mine --no-eval --keep-last 0 "
        "--keep-every 2 --on-nonfinite rollback --eval-in-background"
    )
    options = model_options(RunOptions, _parser().parse_args(line.split()))
    assert options == RunOptions(
        device="cpu",
        data_on_device=False,
        precision="fp32",
        compile=True,
        cuda_graphs=False,
        channels_last=True,
        threads=3,
        sync_every=4,
        progress_every="500",
        quiet=True,
        label="mine",
        evaluate=False,
        keep_last=0,
        keep_every=2,
        on_nonfinite="rollback",
        eval_in_background=True,
    )


def test_no_flag_gives_the_documented_defaults():
    options = model_options(RunOptions, _parser().parse_args(["s.yaml"]))
    assert options == RunOptions()
    assert (options.device, options.precision, options.keep_last, options.keep_every, options.progress_every) == (
        "auto",
        "auto",
        3,
        5,
        "60s",
    )
    assert options.evaluate and not options.quiet and options.compile is None and options.threads is None


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--threads", "0"], "greater than or equal to 1"),
        (["--keep-last", "-1"], "greater than or equal to 0"),
        (["--progress-every", "5m"], "expected seconds like 60s or a number of samples like 5000"),
        (["--precision", "fp16"], "invalid choice"),
        (["--label", "x" * 201], "at most 200 characters"),
    ],
)
def test_a_bad_value_is_a_usage_error_with_the_fields_rule(flags, needle, capsys):
    parser = _parser()
    parser.exit_on_error = True
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["s.yaml", *flags])
    assert exit_.value.code == 2 and needle in capsys.readouterr().err


def test_options_only_the_library_takes_stay_off_the_command_line():
    flags = {a.dest for a in _parser()._actions}
    assert "rollback_lr_factor" not in flags and "max_rollbacks" not in flags
    assert set(RunOptions.model_fields) - {"rollback_lr_factor", "max_rollbacks"} <= flags


def test_one_training_checks_its_spec_once_with_overrides_and_a_rollback_build(tiny, tmp_path, monkeypatch):
    """`runner train` with two --set: the shape check runs once (not once more per --set for the
    "changes nothing" warnings, nor again when the compiler builds the model)."""
    import archspec
    import archspec.checking.shapes
    from runner.cli import main

    calls = []
    real = archspec.checking.shapes.check
    monkeypatch.setattr(archspec.checking.shapes, "check", lambda spec: calls.append(1) or real(spec))
    code = main(
        [
            "train",
            str(tiny),
            "--out",
            str(tmp_path / "run"),
            "--set",
            "training.samples=8",
            "--set",
            "training.seed=0",
            "--no-eval",
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert code == 0 and len(calls) == 1
    spec = archspec.load(tiny)
    archspec.build(spec)  # a spec load returned is trusted by the compiler
    assert len(calls) == 2
    archspec.build(spec.model_copy(update={"name": "copy"}))  # a copy is a new object: checked again
    assert len(calls) == 3
