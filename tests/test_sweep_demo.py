"""Sweeps (resume, no duplicates, bad axes), the demo, latency and run-time switching."""

from dataclasses import replace

import pandas as pd
import pytest
import torch

from pimsim.commands import main
from pimsim.errors import PimsimError
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.reports import sweep as sweep_module
from pimsim.reports.demo import run_demo
from pimsim.reports.latency import measure_latency
from pimsim.reports.runner import DynamicRunner
from pimsim.reports.sweep import SweepConfig, run_sweep
from pimsim.simulate.hardware import parse_axis
from tests.conftest import exit_code

AXES = {"chip.rows": [128, 256], "mtj.tmr_ratio": [0.9, 1.5]}


def _cfg(**kw):
    return SweepConfig(cost_only=True, model="resnet20", input_size=32, num_classes=10,
                       widths=[0.5, 1.0], bits=[8, 16], devices=["sot_mram_45nm"],
                       axes=dict(AXES), **kw)


def test_interrupted_sweep_resumes_to_the_same_csv_without_duplicates(tmp_path, monkeypatch):
    full = run_sweep(_cfg(), tmp_path / "full", quiet=True)
    assert len(full) == 2 * 2 * 2 * 2  # sub-nets x bits x rows x tmr
    assert not full.duplicated(["subnet", "bits", "chip.rows", "mtj.tmr_ratio"]).any()
    calls = {"n": 0}
    real = sweep_module._evaluate

    def dying(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(sweep_module, "_evaluate", dying)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_cfg(), tmp_path / "cut", quiet=True)
    assert len(list((tmp_path / "cut" / "points").glob("*.csv"))) == 3
    assert not (tmp_path / "cut" / "sweep.csv").exists()
    monkeypatch.setattr(sweep_module, "_evaluate", real)
    resumed = run_sweep(_cfg(), tmp_path / "cut", quiet=True)
    assert (tmp_path / "cut" / "sweep.csv").read_bytes() == \
        (tmp_path / "full" / "sweep.csv").read_bytes()
    pd.testing.assert_frame_equal(resumed, full)


def test_parallel_sweep_equals_serial(tmp_path):
    serial = run_sweep(_cfg(), tmp_path / "a", quiet=True)
    parallel = run_sweep(_cfg(jobs=2), tmp_path / "b", quiet=True)
    pd.testing.assert_frame_equal(serial, parallel)


def test_sweep_axes_change_costs_and_infeasible_points_are_kept(tmp_path):
    cfg = replace(_cfg(), axes={"chip.subarrays_per_mat": [1, 32]})  # 128 or 4,096 sub-arrays
    table = run_sweep(cfg, tmp_path, quiet=True)
    bad = table.infeasible.astype(str).str.contains("the chip has 128")
    assert bad.any() and (table[bad]["chip.subarrays_per_mat"] == 1).all()
    assert table[bad].energy_pj.isna().all() and table[~bad].energy_pj.notna().all()
    big = table[table["chip.subarrays_per_mat"] == 32]
    assert len(big) == 4 and not big.infeasible.astype(str).str.contains("chip").any()


@pytest.mark.parametrize("text, message", [
    ("rows=1,2", "expected GROUP.KEY=V1,V2"),
    ("chip.rows=", "expected GROUP.KEY=V1,V2"),
    ("chip.rows=[1]", "every value must be"),
])
def test_bad_axis_syntax(text, message):
    with pytest.raises(PimsimError, match=message):
        parse_axis(text)


@pytest.mark.parametrize("argv, message", [
    (["--set", "chip.rowz=1"], "chip.rowz: unknown key"),
    (["--set", "mtj.tmr_ratio=-1"], "mtj.tmr_ratio: must be > 0"),
    (["--bits", "4"], "--bits: 4 is not 8 or 16"),
    (["--device-params", "nope"], "no such device preset 'nope'"),
])
def test_bad_sweep_axes_one_line_no_output(tmp_path, capsys, argv, message):
    out = tmp_path / "sweep"
    assert main(["sweep", "--cost-only", "--model", "resnet20", "--input-size", "32", *argv,
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not out.exists()


@pytest.mark.slow
def test_demo_writes_consistent_results(tmp_path):
    table = run_demo(tmp_path, epochs=2, limit=40, quiet=True)
    for name in ("subnets.csv", "sweep.csv", "latency.csv", "pareto.png", "pareto.svg",
                 "summary.md", "layers.csv"):
        assert (tmp_path / name).is_file(), name
    subnets = pd.read_csv(tmp_path / "subnets.csv").set_index("subnet")
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    latency = pd.read_csv(tmp_path / "latency.csv").set_index("subnet")
    sot8 = sweep[(sweep.memory_type == "sot_mram") & (sweep.bits == 8)].set_index("subnet")
    assert len(sot8) == 4 and set(sot8.index) == set(subnets.index) == set(latency.index)
    for name in subnets.index:
        assert sot8.energy_pj[name] == pytest.approx(subnets.energy_pj[name], rel=1e-12)
        assert sot8.top1_int[name] == subnets.top1_pim[name] == latency.top1_pim[name]
    assert list(table.subnet) == list(subnets.index)


def test_latency_and_runtime_switching():
    specs = [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.25)]
    model = DynamicNet("resnet20", 10, 1, specs)
    lat = measure_latency(model, (8, 8), "cpu", batch=2, repeats=3, warmup=1)
    assert list(lat.subnet) == ["w1", "w0.25"]
    assert (lat.latency_per_image_ms == lat.latency_per_batch_ms / 2).all()
    assert (lat.latency_iqr_per_batch_ms >= 0).all() and (lat.compute_device == "cpu").all()
    assert (lat.latency_per_batch_ms > 0).all() and (lat.batch == 2).all()
    table = pd.DataFrame({"subnet": ["w1", "w0.25"], "top1_float": [0.98, 0.95],
                          "latency_per_image_ms": [2.0, 1.0], "energy_per_image_uj": [3.0, 1.0]})
    runner = DynamicRunner(model, table)
    assert runner.set_budget(latency_ms=1.5) == "w0.25" and model.active.name == "w0.25"
    assert runner.set_budget(latency_ms=5) == "w1" and model.active.name == "w1"
    assert runner.set_budget(latency_ms=5, energy_uj=2) == "w0.25"
    assert runner(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    with pytest.raises(PimsimError, match="no sub-net fits"):
        runner.set_budget(energy_uj=0.5)


@pytest.mark.parametrize("argv, message", [
    (["latency", "--checkpoint", "X", "--threads", "-1", "--out", "o.csv"],
     "argument --threads: must be >= 1, got -1"),
    (["latency", "--checkpoint", "X", "--warmup", "-2", "--out", "o.csv"],
     "argument --warmup: must be >= 0"),
    (["sweep", "--cost-only", "--model", "resnet20", "--limit", "-5", "--out", "o"],
     "argument --limit: must be >= 1"),
    (["sweep", "--cost-only", "--model", "resnet20", "--widths", "1.5", "--out", "o"],
     "argument --widths: 1.5 is outside (0, 1]"),
    (["sweep", "--cost-only", "--model", "resnet20", "--set", "chip.rows=128",
      "--set", "chip.rows=256", "--out", "o"], "--set: chip.rows: given twice"),
    (["quantize", "--checkpoint", "X", "--calib-batches", "0", "--out", "o"],
     "argument --calib-batches: must be >= 1"),
    (["select", "DIR", "--budget-ms", "1"], "latency.csv: not a readable CSV"),
])
def test_bad_flag_values_are_one_line_errors(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "DIR").mkdir()
    (tmp_path / "DIR" / "latency.csv").write_bytes(b"\xff\xfe\x00garbage")
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.csv").exists()
