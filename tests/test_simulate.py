"""pimsim simulate: PIM accuracy equals the integer executor, reports, determinism, errors."""

import json

import pandas as pd
import pytest
import yaml

from pimsim.commands import main
from pimsim.mapper.chip import MAPPINGS_DIR
from pimsim.simulate import SimulateConfig, simulate, write_simulation
from pimsim.train import TrainConfig, run_training
from pimsim.train.checkpoint import save_sealed


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim_run")
    run_training(TrainConfig(widths=[0.5, 1.0], epochs=3, batch_size=64), out, quiet=True)
    return out / "model.pt"


def test_pim_accuracy_equals_integer_executor_and_reports_are_complete(checkpoint, tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "--checkpoint", str(checkpoint), "--bits", "8", "--limit", "90",
                 "--out", str(out)]) == 0
    subnets = pd.read_csv(out / "subnets.csv")
    assert list(subnets.subnet) == ["w0.5", "w1"]  # narrowest first
    assert (subnets.top1_pim == subnets.top1_int).all() and (subnets.images == 90).all()
    assert subnets.top1_pim.min() > 0.5
    for col in ("bits", "macs", "energy_pj", "latency_ns", "weight_bits", "area_mm2",
                "tops_per_w", "fps", "utilization"):
        assert col in subnets.columns
    assert subnets.energy_pj.is_monotonic_increasing and subnets.area_mm2.is_monotonic_increasing
    layers = pd.read_csv(out / "layers.csv")
    per_subnet = layers.groupby("subnet").energy_pj.sum()
    for _, row in subnets.iterrows():
        assert per_subnet[row.subnet] == pytest.approx(row.energy_pj)
        assert layers[layers.subnet == row.subnet].macs.sum() == row.macs
    config = json.loads((out / "config.json").read_text())
    assert len(config["checkpoint"]["sha256"]) == 64 and config["pimsim_version"]
    assert "w0.5" in (out / "summary.md").read_text()


def test_bit_exact_run_uses_the_overridden_chip(checkpoint):
    """With ``chip.cols`` overridden, the kernel's counted events must equal the closed form
    on the overridden sub-arrays (simulate checks it), and the costs must use them too."""
    from pimsim.simulate import SimulateConfig, simulate

    base = SimulateConfig(checkpoint=str(checkpoint), bits=8, limit=4)
    narrow = simulate(SimulateConfig(**{**base.to_dict(), "overrides": {"chip.cols": 64}}))
    wide = simulate(base)
    assert (narrow.subnets.top1_pim == narrow.subnets.top1_int).all()
    assert (narrow.subnets.subarrays > wide.subnets.subarrays).all()
    assert narrow.config["mapping"]["overrides"] == {"chip.cols": 64}


@pytest.mark.slow
def test_simulation_is_deterministic(checkpoint, tmp_path):
    cfg = SimulateConfig(checkpoint=str(checkpoint), bits=16, limit=20, subnets=["w0.5"])
    a = write_simulation(simulate(cfg), tmp_path / "a")
    b = write_simulation(simulate(cfg), tmp_path / "b")
    for name in ("subnets.csv", "layers.csv", "config.json", "summary.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert pd.read_csv(a / "subnets.csv").bits.iloc[0] == 16


def test_cost_only_imagenet_family(tmp_path):
    sim = simulate(SimulateConfig(cost_only=True, model="resnet18", input_size=224))
    s = sim.subnets
    assert list(s.subnet) == ["w0.25", "w0.5", "w0.75", "w1"]
    assert s.macs.iloc[-1] == 1_814_073_344  # derived by hand in test_counting
    assert s.energy_pj.is_monotonic_increasing and s.latency_ns.is_monotonic_increasing
    assert ((s.utilization > 0) & (s.utilization <= 1)).all()
    assert "top1_pim" not in s


@pytest.mark.parametrize("argv, message", [
    (["--subnets", "w9"], "sub-net 'w9': unknown; registered sub-nets: w1, w0.5"),
    (["--mapping", "TINY"], "chip: the sub-nets need"),
    (["--device-params", "nope"], "no such device preset 'nope'"),
    (["--checkpoint", "OTHER"], "state_dict: does not match resnet32"),
])
def test_bad_input_one_line_no_output(checkpoint, tmp_path, capsys, argv, message):
    import torch

    raw = yaml.safe_load((MAPPINGS_DIR / "default.yaml").read_text())
    for key in ("banks", "mats_per_bank", "subarrays_per_mat"):
        raw["chip"][key]["value"] = 1  # a one-sub-array chip
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(raw))
    other = torch.load(checkpoint, weights_only=True)
    other["arch"] = "resnet32"
    save_sealed(tmp_path / "other.pt", other)  # edited, checksum renewed
    subs = {"TINY": str(tiny), "OTHER": str(tmp_path / "other.pt")}
    argv = [subs.get(a, a) for a in argv]
    base = ["simulate", "--checkpoint", str(checkpoint), "--bits", "8", "--limit", "5"]
    out = tmp_path / "out"
    assert main([*base, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
