"""One override mechanism for simulate and sweep: parsing, resolution, and config.json records
from which a run repeats exactly."""

import json

import pandas as pd
import pytest

from pimsim.commands import main
from pimsim.device import load_device_params
from pimsim.errors import PimsimError
from pimsim.mapper import load_mapping
from pimsim.reports.sweep import SweepConfig, run_sweep
from pimsim.simulate import SimulateConfig, resolve_hardware, simulate, write_simulation
from pimsim.simulate.hardware import parse_override, parse_settings
from tests.conftest import exit_code

SMALL = {"cost_only": True, "model": "resnet20", "input_size": 32, "num_classes": 10,
         "widths": (0.5, 1.0)}
OVERRIDES = {"chip.rows": 128, "mtj.tmr_ratio": 1.5}


def test_resolve_hardware_sends_each_key_to_its_file():
    params, chip = resolve_hardware("sot_mram_45nm", "default", OVERRIDES)
    base_params, base_chip = load_device_params("sot_mram_45nm"), load_mapping("default")
    assert chip.chip.rows == 128 != base_chip.chip.rows
    assert params.mtj.tmr_ratio == 1.5 != base_params.mtj.tmr_ratio
    assert params.cell == base_params.cell and chip.policy == base_chip.policy
    assert resolve_hardware("sot_mram_45nm", "default") == (base_params, base_chip)


def test_api_run_with_overrides_repeats_from_its_config_json(tmp_path):
    sim = simulate(SimulateConfig(**SMALL, overrides=OVERRIDES))
    first = write_simulation(sim, tmp_path / "first")
    config = json.loads((first / "config.json").read_text())
    assert config["options"]["overrides"] == OVERRIDES
    assert config["mapping"]["overrides"] == {"chip.rows": 128}
    assert config["device_params"]["overrides"] == {"mtj.tmr_ratio": 1.5}
    assert len(config["device_params"]["sha256"]) == len(config["mapping"]["sha256"]) == 64
    again = write_simulation(simulate(SimulateConfig.from_dict(config["options"])),
                             tmp_path / "again")
    for name in ("subnets.csv", "layers.csv", "config.json"):
        assert (first / name).read_bytes() == (again / name).read_bytes()
    plain = simulate(SimulateConfig(**SMALL)).subnets
    assert (sim.subnets.energy_pj != plain.energy_pj).all()  # the overrides took effect


def test_simulate_set_on_the_command_line_equals_the_api(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["simulate", "--cost-only", "--model", "resnet20", "--input-size", "32",
                 "--num-classes", "10", "--widths", "0.5,1", "--set", "mtj.tmr_ratio=1.5",
                 "--set", "chip.rows=128", "--out", str(out)]) == 0
    api = simulate(SimulateConfig(**SMALL, overrides=OVERRIDES)).subnets
    pd.testing.assert_frame_equal(pd.read_csv(out / "subnets.csv"),
                                  pd.read_csv(_csv(api, tmp_path)))


def _csv(table, tmp_path):
    table.to_csv(tmp_path / "api.csv", index=False)
    return tmp_path / "api.csv"


@pytest.mark.parametrize("sets, message", [
    (["chip.rows=[1"], "every value must be a number, true/false or a word"),
    (["chip.rows=128,256"], "one value per key here"),
    (["chip.rows=128", "chip.rows=256"], "--set: chip.rows: given twice"),
    (["rows=128"], "expected GROUP.KEY=VALUE"),
    (["chip.rowz=1"], "--set chip.rowz=1: mappings/default.yaml (override): chip.rowz: "
                      "unknown key"),
    (["mtj.tmr_ratio=-1"], "--set mtj.tmr_ratio=-1: device_params/sot_mram_45nm.yaml "
                           "(override): mtj.tmr_ratio: must be > 0"),
])
def test_bad_simulate_set_is_one_line_exit_2(tmp_path, capsys, sets, message):
    out = tmp_path / "out"
    argv = ["simulate", "--cost-only", "--model", "resnet20", "--input-size", "32"]
    for text in sets:
        argv += ["--set", text]
    assert exit_code([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_parse_settings_reads_yaml_scalars():
    assert parse_override("policy.replicate=true") == ("policy.replicate", True)
    assert parse_settings(["chip.rows=128,256", "policy.execution=pipelined"], axes=True) == \
        {"chip.rows": [128, 256], "policy.execution": ["pipelined"]}
    with pytest.raises(PimsimError, match="every value must be"):
        parse_settings(["chip.rows=128,[1"], axes=True)


def test_sweep_in_channels_reaches_the_cost_only_family(tmp_path):
    cfg = dict(SMALL, widths=(1.0,))
    del cfg["cost_only"]
    rgb = run_sweep(SweepConfig(cost_only=True, **cfg), tmp_path / "rgb", quiet=True)
    grey = run_sweep(SweepConfig(cost_only=True, in_channels=1, **cfg), tmp_path / "grey",
                     quiet=True)
    sim = simulate(SimulateConfig(**dict(SMALL, widths=(1.0,)), in_channels=1)).subnets
    # resnet20's first convolution: 16 filters of 3x3 over C channels at 32x32 pixels
    assert rgb.macs.iloc[0] - grey.macs.iloc[0] == 16 * 9 * 2 * 32 * 32
    assert grey.energy_pj.iloc[0] == sim.energy_pj.iloc[0]


def test_an_edited_device_file_is_read_again(tmp_path):
    """The resolution cache must not serve a file's old values after it changed."""
    import yaml

    from pimsim.device.params import PRESETS_DIR

    path = tmp_path / "dev.yaml"
    raw = yaml.safe_load((PRESETS_DIR / "sot_mram_45nm.yaml").read_text())
    path.write_text(yaml.safe_dump(raw))
    before, _ = resolve_hardware(str(path), "default")
    raw["mtj"]["tmr_ratio"]["value"] = 0.2
    path.write_text(yaml.safe_dump(raw) + "# edited\n")
    after, _ = resolve_hardware(str(path), "default")
    assert before.mtj.tmr_ratio != after.mtj.tmr_ratio == 0.2
    cfg = SimulateConfig(cost_only=True, model="resnet20", input_size=8, num_classes=10,
                         device_params=str(path))
    with pytest.raises(PimsimError, match="mtj.tmr_ratio: and2 sense margin"):
        simulate(cfg)
