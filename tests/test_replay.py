"""Replayable simulations: ``config.json`` holds what produced a run and copies of its device
and mapping files; ``pimsim simulate --config`` repeats it with identical CSVs, even after the
files changed; ``summary.md`` names everything that ran."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pimsim.commands import main
from pimsim.device.params import PRESETS_DIR

CSVS = ("subnets.csv", "layers.csv")
COST_ONLY = ["--cost-only", "--model", "resnet20", "--input-size", "32", "--num-classes", "10",
             "--widths", "0.5,1"]


def assert_same_csvs(a: Path, b: Path) -> None:
    for name in CSVS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_replay_uses_the_recorded_copy_of_a_changed_file(tmp_path, monkeypatch, capsys):
    device = tmp_path / "mine.yaml"
    shutil.copy(PRESETS_DIR / "stt_mram_45nm.yaml", device)
    first = tmp_path / "first"
    assert main(["simulate", *COST_ONLY, "--device-params", str(device),
                 "--set", "chip.rows=128", "--out", str(first)]) == 0
    config = json.loads((first / "config.json").read_text())
    assert config["device_params"]["text"] == device.read_text()
    assert config["chip"]["rows"] == 128 and config["network"]["model"] == "resnet20"
    device.write_text("garbage: [")  # the file changed since the run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["simulate", "--config", str(first / "config.json"), "--out", "again"]) == 0
    assert_same_csvs(first, elsewhere / "again")
    again = json.loads((elsewhere / "again" / "config.json").read_text())
    assert again["device_params"]["sha256"] == config["device_params"]["sha256"]
    assert again["options"]["overrides"] == {"chip.rows": 128}


def test_replay_of_an_unchanged_run_records_the_same_config(tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["simulate", *COST_ONLY, "--out", str(first)]) == 0
    assert main(["simulate", "--config", str(first / "config.json"), "--out", str(again)]) == 0
    assert_same_csvs(first, again)
    a, b = (json.loads((d / "config.json").read_text()) for d in (first, again))
    assert a["provenance"]["argv"] != b["provenance"]["argv"]
    a["provenance"]["argv"] = b["provenance"]["argv"] = None
    assert a == b


def test_summary_stands_alone(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", *COST_ONLY, "--set", "chip.cols=128", "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    for text in ("untrained `resnet20`", "input 32x32 pixels", "10 classes", "8-bit",
                 "4,096 sub-arrays of 256 x 128 cells", "`chip.cols=128`", "`sot_mram_45nm`",
                 "Command: `pimsim simulate --cost-only", "latency (us)", "MACs (M)",
                 "utilization (%)"):
        assert text in summary, text


@pytest.mark.parametrize("argv, message", [
    (["--limit", "3"], "--config: give only --out with it, not --limit"),
    (["--cost-only"], "--config: give only --out with it, not --cost-only"),
])
def test_config_takes_no_other_option(tmp_path, capsys, argv, message):
    assert main(["simulate", "--config", "x.json", *argv, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"pimsim simulate: error: {message}"


def test_a_changed_checkpoint_is_refused(tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not the one")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"options": {"checkpoint": str(checkpoint)},
                                  "checkpoint": {"path": str(checkpoint), "sha256": "0" * 64}}))
    assert main(["simulate", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "checkpoint: " in capsys.readouterr().err
    config.write_text("{")
    assert main(["simulate", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "not JSON" in capsys.readouterr().err


@pytest.mark.slow
def test_a_checkpoint_run_replays_and_its_summary_names_the_network(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--input-size", "8", "--num-classes", "4",
                 "--widths", "0.5,1.0", "--epochs", "1", "--batch-size", "32", "--quiet",
                 "--out", str(run)]) == 0
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["simulate", "--checkpoint", str(run / "model.pt"), "--bits", "8",
                 "--limit", "4", "--out", str(first)]) == 0
    assert main(["simulate", "--config", str(first / "config.json"), "--out", str(again)]) == 0
    assert_same_csvs(first, again)
    summary = (first / "summary.md").read_text()
    for text in ("`resnet20` on `synthetic`", "trained with `uniform`", "input 8x8 pixels",
                 "4 classes", f"checkpoint `{run / 'model.pt'}`"):
        assert text in summary, text
