"""Feasibility in the cost model: every path refuses a device that cannot sense the mapping's
operations (the bit-serial scheme's AND2), with one line naming the file and the field."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from pimsim.device import (
    bitserial_conv2d,
    check_feasible,
    list_presets,
    load_device_params,
    op_margins,
    with_overrides,
)
from pimsim.device.params import PRESETS_DIR
from pimsim.errors import PimsimError
from pimsim.mapper import load_mapping, mapping_with_overrides
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.simulate.costs import family_costs
from pimsim.simulate.layers import layers_of_subnets
from tests.conftest import exit_code

# TMR 0.2: AND2 margin (1.2 - 1.1) / 1.1 = 9.1 % < 10 %, while a read (16.7 %) still works.
WEAK_AND2 = (r"mtj\.tmr_ratio: and2 sense margin 0\.091 is below "
             r"circuit\.sense_amp_min_margin_frac 0\.1")
SMALL_NET = ["--model", "resnet20", "--input-size", "8", "--num-classes", "10"]


@pytest.fixture(scope="module")
def family():
    model = DynamicNet("resnet20", 10, 3, [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.5)])
    return layers_of_subnets(model, (8, 8), 8)


def _weak_file(tmp_path):
    raw = yaml.safe_load((PRESETS_DIR / "sot_mram_45nm.yaml").read_text())
    raw["mtj"]["tmr_ratio"]["value"] = 0.2
    path = tmp_path / "weak.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _one_line(info, prefix: str, pattern: str) -> None:
    message = str(info.value)
    assert "\n" not in message and message.startswith(prefix + ": ")
    assert re.fullmatch(pattern, message.removeprefix(prefix + ": "))


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_is_feasible_for_the_default_mapping(name, family):
    params, mapping = load_device_params(name), load_mapping()
    margins = check_feasible(params, mapping.sense_ops)
    assert set(margins) == set(mapping.sense_ops) == {"and2"}
    assert margins["and2"] == op_margins(params)["and2"] >= params.circuit.sense_amp_min_margin_frac
    subnets, _ = family_costs(family, params, mapping)
    assert (subnets.energy_pj > 0).all()


def test_device_file_refused_by_the_cost_model(tmp_path, family):
    path = _weak_file(tmp_path)
    params = load_device_params(path)  # loads: only the read margin is a property of the file
    with pytest.raises(PimsimError) as info:
        family_costs(family, params, load_mapping())
    _one_line(info, str(path), WEAK_AND2)


def test_api_overrides_refused_by_the_cost_model(family):
    weak = with_overrides(load_device_params(), {"mtj.tmr_ratio": 0.2})
    with pytest.raises(PimsimError) as info:
        family_costs(family, weak, mapping_with_overrides(load_mapping(), {"chip.rows": 128}))
    _one_line(info, "device_params/sot_mram_45nm.yaml (override)", WEAK_AND2)
    sram = with_overrides(load_device_params("sram_45nm"), {"sram.two_row_margin_frac": 0.05})
    with pytest.raises(PimsimError, match=r"sram\.two_row_margin_frac: and2 sense margin 0\.050"):
        family_costs(family, sram, load_mapping())
    # The refusal comes before placement: a chip too small to hold the family is not the reason.
    tiny = mapping_with_overrides(load_mapping(), {"chip.subarrays_per_mat": 1, "chip.banks": 1})
    with pytest.raises(PimsimError, match="and2 sense margin"):
        family_costs(family, weak, tiny)


def test_bit_exact_kernel_refuses_the_same_device(tmp_path):
    x, w = np.ones((1, 1, 2, 2), np.int64), np.ones((1, 1, 1, 1), np.int64)
    for weak in (load_device_params(_weak_file(tmp_path)),
                 with_overrides(load_device_params(), {"mtj.tmr_ratio": 0.2})):
        with pytest.raises(PimsimError) as info:
            bitserial_conv2d(x, w, params=weak)
        _one_line(info, weak.path, WEAK_AND2)


def test_simulate_cli_exits_2_naming_the_field(tmp_path, capsys):
    path, out = _weak_file(tmp_path), tmp_path / "sim"
    assert exit_code(["simulate", "--cost-only", *SMALL_NET, "--device-params", str(path),
                      "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "mtj.tmr_ratio: and2 sense margin 0.091" in err and str(path) in err
    assert not (out / "subnets.csv").exists()


def test_sweep_marks_the_infeasible_point_and_costs_the_other(tmp_path):
    out = tmp_path / "sweep"
    assert exit_code(["sweep", "--cost-only", *SMALL_NET, "--set", "mtj.tmr_ratio=0.2,0.9",
                      "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "sweep.csv")
    weak, good = table[table["mtj.tmr_ratio"] == 0.2], table[table["mtj.tmr_ratio"] == 0.9]
    assert len(weak) == len(good) > 0
    assert weak.infeasible.str.contains(WEAK_AND2).all() and weak.energy_pj.isna().all()
    assert good.infeasible.isna().all() and (good.energy_pj > 0).all()


def test_simulate_set_and_api_overrides_refused(tmp_path, capsys):
    from pimsim.simulate import SimulateConfig, simulate

    out = tmp_path / "sim"
    assert exit_code(["simulate", "--cost-only", *SMALL_NET, "--set", "mtj.tmr_ratio=0.2",
                      "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and re.search(WEAK_AND2, err) and not out.exists()
    cfg = SimulateConfig(cost_only=True, model="resnet20", input_size=8, num_classes=10,
                         overrides={"mtj.tmr_ratio": 0.2})
    with pytest.raises(PimsimError) as info:
        simulate(cfg)
    _one_line(info, "device_params/sot_mram_45nm.yaml (override)", WEAK_AND2)


def test_sweep_over_a_weak_device_file_marks_its_points(tmp_path):
    path, out = _weak_file(tmp_path), tmp_path / "sweep"
    assert exit_code(["sweep", "--cost-only", *SMALL_NET, "--device-params",
                      f"sot_mram_45nm,{path}", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "sweep.csv")
    weak = table[table.infeasible.notna()]
    assert len(weak) == len(table) // 2 and weak.infeasible.str.contains(WEAK_AND2).all()
