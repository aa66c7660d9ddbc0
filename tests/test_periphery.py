"""The periphery model across technologies, and the validation report (benchmarks/validation.py)."""

import csv
import importlib.util
import math
import sys
from pathlib import Path

import pytest

from pimsim.device import load_device_params
from pimsim.mapper import load_mapping
from pimsim.simulate import family_costs, layers_from_module

ROOT = Path(__file__).resolve().parents[1]


def _validation():
    spec = importlib.util.spec_from_file_location("validation", ROOT / "benchmarks/validation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_sram_sense_by_hand_from_the_bit_line_model():
    """sram_45nm, 256 rows: pitch sqrt(146) * 0.045 um = 0.54373 um; per row 0.2 * 0.54373
    + 0.1 = 0.208746 fF; C_BL = 53.439 fF; swing 0.15 V from 1 V: 8.0159 fJ; no cell current
    beyond the discharge; + 5 fJ sense amplifier = 13.0159 fJ. A two-row sense costs the same
    per column (one bit-line discharge)."""
    d = load_device_params("sram_45nm").derived
    assert d.bitline_cap_ff == pytest.approx(256 * (0.2 * math.sqrt(146) * 0.045 + 0.1))
    assert d.bitline_energy_pj == pytest.approx(8.0159e-3, rel=1e-4)
    assert d.cell_read_energy_pj == 0.0
    assert d.read_bit_energy_pj == pytest.approx(13.0159e-3, rel=1e-4)


def test_mram_presets_differ_only_by_cited_cell_figures():
    """Same read bias, pulse, supply and periphery: the bit lines differ by the cell pitch
    (57.5 vs 60 F^2), the read currents by R_P and TMR (12.5 uA against 30.9 uA)."""
    sot, stt = load_device_params("sot_mram_45nm"), load_device_params("stt_mram_45nm")
    ds, dt = sot.derived, stt.derived
    assert sot.circuit == stt.circuit and ds.read_latency_ns == dt.read_latency_ns
    assert ds.shift_add_energy_pj == dt.shift_add_energy_pj
    assert ds.cell_read_energy_pj / dt.cell_read_energy_pj == pytest.approx(
        sot.tech.read_current_ua(sot.mtj) / stt.tech.read_current_ua(stt.mtj))
    assert stt.tech.read_current_ua(stt.mtj) == pytest.approx(12.5)
    wire = 0.2 * 0.045
    assert ds.bitline_cap_ff - dt.bitline_cap_ff == pytest.approx(
        256 * wire * (math.sqrt(60) - math.sqrt(57.5)))


def test_validation_report_reads_pimsim_from_the_code(tmp_path):
    validation = _validation()
    out = tmp_path / "validation.csv"
    validation.main(["--out", str(out), "--networks", "vgg8"])
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == list(validation.COLUMNS)
    for row in rows:
        assert float(row["ratio"]) == pytest.approx(
            float(row["pimsim"]) / float(row["published"]), rel=6e-3)
        assert row["source"] and row["explanation"]
    params, mapping = load_device_params(), load_mapping()
    layers = layers_from_module(validation.vgg8(), (3, 32, 32), 8)
    assert sum(layer.macs for layer in layers) == 615_917_568
    subnets, _ = family_costs({"vgg8": layers}, params, mapping)
    energy = next(r for r in rows if r["network"] == "vgg8" and r["quantity"] == "energy per image")
    assert float(energy["pimsim"]) == pytest.approx(subnets.energy_per_image_uj.iloc[0], rel=1e-3)
    assert float(energy["published"]) == 58.6
    shift = next(r for r in rows if r["quantity"].startswith("shift-add"))
    assert float(shift["pimsim"]) == pytest.approx(params.derived.shift_add_energy_pj, rel=1e-3)


@pytest.mark.slow
def test_validation_report_full_run_is_fast(tmp_path):
    validation = _validation()
    rows = validation.validation_rows()
    assert {r.network for r in rows} == {"vgg8", "resnet18", "alexnet", "per op"}
    assert all(r.pimsim > 0 and r.published > 0 for r in rows)
    # the table quoted in device_params/README.md is the one the script prints now
    readme = (Path(__file__).resolve().parents[1] / "device_params" / "README.md").read_text()
    assert validation.markdown(rows) in readme


def test_a_family_is_priced_on_the_chips_bit_lines():
    """``chip.rows`` alone sets the bit-line length of the sense energy when a family is
    costed (the device's own ``array.rows`` is only its default)."""
    from pimsim.mapper import mapping_with_overrides
    from pimsim.network import DynamicNet, SubnetSpec
    from pimsim.simulate.costs import family_costs
    from pimsim.simulate.layers import layers_of_subnets

    family = layers_of_subnets(DynamicNet("resnet20", 10, 3, [SubnetSpec.uniform(1.0)]),
                               (8, 8), 8)
    params, base = load_device_params(), load_mapping()
    short = mapping_with_overrides(base, {"chip.rows": 128})
    _, layers = family_costs(family, params, short)
    row = layers.iloc[0]
    on_chip = params.on_subarrays(128, base.chip.cols).derived
    assert on_chip.bitline_cap_ff == pytest.approx(params.derived.bitline_cap_ff / 2)
    per_column = on_chip.read_bit_energy_pj + on_chip.cell_read_energy_pj
    events = family["w1"][0].events(128, base.chip.cols)
    assert row.energy_and2_pj == pytest.approx(
        events.and2_sense_bits * per_column + events.and2_senses * 2
        * params.circuit.decoder_driver_energy_pj)
