"""The ``pimsim`` command line: building the parser imports nothing heavy, every option is
documented with its default, every subcommand shows an example, ``--quiet``/``--verbose`` work
on either side of the subcommand, and progress written to a file is plain lines."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pimsim import progress
from pimsim.commands import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "numba", "pandas", "matplotlib", "scipy")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_nothing_heavy(flag):
    code = (f"import sys\nfrom pimsim.commands import main\ntry:\n    main([{flag!r}])\n"
            "except SystemExit:\n    pass\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
    assert "pimsim" in done.stdout


def test_every_option_has_help_and_shows_its_default():
    for name, parser in subcommands().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]}: no help text"
            default = action.default
            if default in (None, False, [], argparse.SUPPRESS) or isinstance(default, bool):
                continue
            shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
            text = formatter._get_help_string(action)
            assert f"(default: {shown})" in text or "default " in action.help, \
                f"{name} {action.option_strings[0]}: default {shown} not shown"


def test_every_subcommand_shows_an_example():
    parsers = subcommands()
    assert set(parsers) == {c.__name__.rsplit(".", 1)[1] for c in COMMANDS}
    for name, parser in parsers.items():
        assert f"  pimsim {name} " in parser.format_help(), name


def test_choices_load_when_parsing(capsys):
    assert main(["count", "--model", "resnet20", "--widths", "1"]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["count", "--model", "resnet7"])
    assert exc.value.code == 2
    assert "invalid choice: 'resnet7'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, level", [
    (["count"], progress.NORMAL),
    (["--quiet", "count"], progress.QUIET),
    (["count", "-q"], progress.QUIET),
    (["-v", "count"], progress.VERBOSE),
    (["count", "--verbose"], progress.VERBOSE),
])
def test_quiet_and_verbose_on_either_side_of_the_subcommand(argv, level, capsys):
    try:
        assert main([*argv, "--widths", "1"]) == 0
        assert progress.verbosity() == level
    finally:
        progress.set_verbosity(progress.NORMAL)


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["-q", "count", "-v"])
    assert exc.value.code == 2
    assert "exclude each other" in capsys.readouterr().err


def test_progress_is_plain_lines_off_a_terminal(monkeypatch):
    err = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", err)
    assert list(progress.progress(range(3), "phase", unit="epoch")) == [0, 1, 2]
    lines = err.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"phase: {i}/3 epochs" for i in (1, 2, 3)]
    list(progress.progress(range(3), "inner", lines=False))
    list(progress.progress(range(3), "off", enabled=False))
    assert err.getvalue().splitlines() == lines
    many = io.StringIO()
    monkeypatch.setattr(sys, "stderr", many)
    list(progress.progress(range(1000), "sweep"))
    assert len(many.getvalue().splitlines()) == 100  # one per hundredth


def test_quiet_shows_no_progress(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress.set_verbosity(progress.QUIET)
    try:
        list(progress.progress(range(3), "phase"))
        progress.note("not shown")
    finally:
        progress.set_verbosity(progress.NORMAL)
    progress.note("not shown either")  # NORMAL: notes are for --verbose
    assert err.getvalue() == ""


@pytest.mark.slow  # a subprocess that imports torch and trains: several seconds
def test_train_log_in_a_file_is_plain_lines(tmp_path):
    log = tmp_path / "train.log"
    with open(log, "w") as f:
        done = subprocess.run(
            [sys.executable, "-m", "pimsim", "train", "--dataset", "synthetic", "--input-size",
             "8", "--num-classes", "4", "--widths", "0.25,1.0", "--epochs", "2",
             "--batch-size", "16", "--out", str(tmp_path / "run")],
            stdout=f, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
            timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text
    assert "joint: 2/2 epochs" in text


def test_simulate_config_records_the_command_line(tmp_path):
    out = tmp_path / "sim"
    argv = ["simulate", "--cost-only", "--model", "resnet20", "--input-size", "32",
            "--num-classes", "10", "--widths", "0.5,1", "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["provenance"]["argv"] == ["pimsim", *argv]
    assert config["provenance"]["versions"]["pimsim"] == config["pimsim_version"]
    assert set(config["provenance"]["versions"]) == {"pimsim", "python", "torch", "numpy",
                                                     "numba", "pandas"}
