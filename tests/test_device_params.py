"""Device parameter files: validation against cited figures, margins, and every class of error."""

import copy
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from pimsim.device import (
    cost,
    list_presets,
    load_device_params,
    mtj_margins,
    op_margins,
    parse_device_params,
    sense_levels_ohm,
    subarray_area_um2,
    subarray_leakage_uw,
    with_overrides,
)
from pimsim.device.events import EventCounts
from pimsim.device.margins import check_margin
from pimsim.device.params import PRESETS_DIR
from pimsim.device.physics import bitline_cap_ff, bitline_energy_pj, supply_energy_pj
from pimsim.device.technologies.mtj import mtj_read_current_ua, write_energy_pj
from pimsim.errors import PimsimError
from pimsim.mapper import load_mapping, mapping_with_overrides

PRESETS = ["sot_mram_45nm", "stt_mram_45nm", "sram_45nm"]
EVERY_PRESET = list_presets()


def test_presets_listed():
    assert set(PRESETS) <= set(EVERY_PRESET)


@pytest.mark.parametrize("name", EVERY_PRESET)
def test_preset_loads(name):
    params = load_device_params(name)
    assert params.name == name
    assert params.path == f"device_params/{name}.yaml"
    raw = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
    assert params.technology == raw["technology"] == params.tech.name
    optional = {"variation"} if params.variation is not None else set()  # not in .groups
    assert set(params.groups) | optional == set(raw) - {"name", "technology", "description"}
    assert getattr(params, params.tech.group) is params.tech_params


@pytest.mark.parametrize("name", EVERY_PRESET)
def test_every_value_has_source_or_assumption(name):
    params = load_device_params(name)
    raw = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
    leaves = {f"{g}.{k}" for g, group in raw.items() if isinstance(group, dict) for k in group}
    assert {key for key, _ in params.notes} == leaves
    for key, note in params.notes:
        assert note.startswith(("source: ", "assumption: ")), (name, key)


@pytest.mark.parametrize("name", EVERY_PRESET)
def test_preset_derived_costs_positive_and_area_leakage_grow(name):
    p = load_device_params(name)
    d = p.derived
    for value in (d.bitline_cap_ff, d.bitline_energy_pj, d.read_bit_energy_pj,
                  d.write_bit_energy_pj, d.shift_add_energy_pj, d.read_latency_ns,
                  d.write_latency_ns, d.cell_area_um2):
        assert value > 0
    assert d.cell_read_energy_pj >= 0
    assert d.read_bit_energy_pj == (p.cell.read_energy_pj or d.bitline_energy_pj
                                    + d.cell_read_energy_pj + p.circuit.sense_amp_energy_pj)
    assert d.shift_add_energy_pj > p.circuit.shift_adder_energy_pj
    assert d.write_bit_energy_pj == (p.cell.write_energy_pj or d.physics_write_energy_pj)
    assert d.cell_area_um2 == pytest.approx(p.cell.area_f2 * (p.cell.feature_size_nm / 1e3) ** 2)
    assert 0 < subarray_area_um2(p, 64, 64) < subarray_area_um2(p, 128, 64)
    assert 0 < subarray_leakage_uw(p, 64, 64) < subarray_leakage_uw(p, 64, 128)
    cell_nw = p.tech.cell_leakage_nw(p.tech_params)
    assert subarray_leakage_uw(p, 128, 64) - subarray_leakage_uw(p, 64, 64) == pytest.approx(
        64 * 64 * cell_nw * 1e-3)
    assert cell_nw >= 0


@pytest.mark.parametrize("name", EVERY_PRESET)
def test_preset_margins_and_margin_key(name):
    p = load_device_params(name)
    m = op_margins(p)
    assert set(m) == {"read", "and2", "or2", "xor2", "maj3"}
    assert all(0 <= v < 1 or (op == "read" and v == 1) for op, v in m.items())
    assert m["xor2"] == min(m["and2"], m["or2"])
    assert check_margin(p, "read") == m["read"] >= p.circuit.sense_amp_min_margin_frac
    group, _, key = p.tech.margin_key.partition(".")
    assert group == p.tech.group and key in {f.name for f in fields(p.tech_params)}
    for op, margin in m.items():
        if margin < p.circuit.sense_amp_min_margin_frac:
            with pytest.raises(PimsimError, match=rf"^{p.path}: {p.tech.margin_key}: {op} sense"):
                check_margin(p, op)


def _bad_values(annotation: str) -> list:
    if annotation.startswith("bool"):
        return ["yes"]
    if annotation.startswith("int"):
        return [0, 1.5]
    return [0, -1.0, "1 V"]


@pytest.mark.parametrize("name", EVERY_PRESET)
def test_overrides_are_validated_exactly_as_files(name):
    """Every bad value of every key gives the same message from a file and from an override."""
    base = load_device_params(name)
    original = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
    for group, instance in base.groups.items():
        for f in fields(instance):
            if getattr(instance, f.name) is None:
                continue
            for bad in _bad_values(str(f.type)) + ([1.0] if f.name.endswith("_frac") else []):
                raw = copy.deepcopy(original)
                raw[group][f.name]["value"] = bad
                with pytest.raises(PimsimError) as from_file:
                    parse_device_params(raw, "x.yaml")  # what load_device_params does after YAML
                with pytest.raises(PimsimError) as from_override:
                    with_overrides(base, {f"{group}.{f.name}": bad})
                file_msg = str(from_file.value).removeprefix("x.yaml: ")
                override_msg = str(from_override.value).removeprefix(f"{base.path} (override): ")
                assert file_msg == override_msg and file_msg.startswith(f"{group}.{f.name}: ")


def test_sot_reproduces_prenat_2016_table1():
    """Prenat et al., IEEE TMSCS 2(1) 2016, Table 1 (SOT, 65 nm, with read circuit):
    read latency 221 ps, write latency 266 ps, read energy 1.8 pJ, write energy 0.1 pJ,
    write current 100 uA."""
    p = load_device_params("sot_mram_45nm")
    d = p.derived
    assert d.read_latency_ns == pytest.approx(0.221)
    assert d.write_latency_ns == pytest.approx(0.266)
    assert p.cell.access_read_energy_pj == pytest.approx(1.8)
    assert p.cell.access_write_energy_pj == pytest.approx(0.1)
    assert d.write_bit_energy_pj == pytest.approx(0.1)
    assert p.mtj.write_current_ua == pytest.approx(100)
    # A row sense charges bit line + cell + sense amplifier per column, far below the isolated
    # access with its whole periphery.
    assert d.read_bit_energy_pj < p.cell.access_read_energy_pj / 50


def test_sot_resistance_matches_opennvram_geometry():
    """OpenNVRAM (FreePDK45) SOT model: RA 5 Ohm um^2 on a 45 x 45 nm free layer gives R_P
    about 2.47 kOhm; track resistance 560 Ohm."""
    mtj = load_device_params("sot_mram_45nm").mtj
    assert mtj.resistance_p_ohm == pytest.approx(5.0 / (0.045 * 0.045), rel=1e-3)
    assert mtj.write_path_resistance_ohm == 560


def test_sot_physics_write_energy_is_track_joule_heating():
    """I^2 R t of the heavy-metal track: (100 uA)^2 * 560 Ohm * 0.266 ns = 1.49 fJ, a lower
    bound far below Prenat's 0.1 pJ with periphery (which the preset uses)."""
    d = load_device_params("sot_mram_45nm").derived
    assert d.physics_write_energy_pj == pytest.approx(1.4896e-3)
    assert write_energy_pj(100, 560, 0.266) == pytest.approx(1e-8 * 560 * 0.266e-9 * 1e12)


def test_stt_reproduces_nvsim_sample_cell_and_prenat_read():
    """NVSim sample_STTRAM.cell (as listed in the hardware notes): 57.5 F^2, R 6/12 kOhm,
    write 40.8 uA for 5 ns, 0.19 pJ; Prenat et al. 2016, Table 1: p-STT reads in SOT's 221 ps
    and 1.8 pJ."""
    p = load_device_params("stt_mram_45nm")
    assert p.cell.area_f2 == 57.5
    assert p.mtj.resistance_p_ohm == 6000
    assert p.mtj.resistance_ap_ohm == pytest.approx(12000)
    assert p.derived.write_latency_ns == 5
    assert p.derived.write_bit_energy_pj == pytest.approx(0.19)
    assert p.derived.read_latency_ns == pytest.approx(0.221)
    assert p.cell.access_read_energy_pj == pytest.approx(1.8)
    # Read current at the shared 0.1 V bias: 0.1 V * (1/6k + 1/12k)/2 S = 12.5 uA; from the
    # 1 V supply for 0.221 ns: 2.7625 fJ.
    assert p.derived.cell_read_energy_pj == pytest.approx(12.5 * 1.0 * 0.221 * 1e-3)


def test_sram_reproduces_horowitz_and_is_volatile():
    """Horowitz, ISSCC 2014, 45 nm: 8 KB SRAM 64-bit read 10 pJ (0.156 pJ/bit); 32-bit add
    0.1 pJ. SRAM is volatile and its cells leak."""
    p = load_device_params("sram_45nm")
    assert not p.cell.nonvolatile
    assert p.cell.access_read_energy_pj == pytest.approx(10 / 64, rel=1e-2)
    assert p.derived.read_bit_energy_pj < p.cell.access_read_energy_pj / 10
    assert p.circuit.shift_adder_energy_pj == pytest.approx(0.1)
    assert subarray_leakage_uw(p, 256, 256) > subarray_leakage_uw(load_device_params(), 256, 256)
    assert op_margins(p)["maj3"] == 0.0
    with pytest.raises(PimsimError, match="maj3 sense margin"):
        check_margin(p, "maj3")


def test_mram_is_nonvolatile():
    for name in ("sot_mram_45nm", "stt_mram_45nm"):
        assert load_device_params(name).cell.nonvolatile


def test_sense_levels_and_margins_hand_derived():
    """Hardware notes, section 3: R_P = 2.47 kOhm, TMR = 100 %: two-row levels 1.23 / 1.65 /
    2.47 kOhm, relative margins (R_hi - R_lo)/R_hi about 25 % (OR) and 33 % (AND); three-row
    majority about 20 %."""
    levels = sense_levels_ohm(2470, 1.0, 2)
    assert levels == pytest.approx([1235, 2470 * 4940 / 7410, 2470], rel=1e-9)
    assert [round(x / 1000, 2) for x in levels] == [1.24, 1.65, 2.47]
    m = mtj_margins(2470, 1.0)
    assert m["or2"] == pytest.approx(0.25)
    assert m["and2"] == pytest.approx(1 / 3)
    assert m["xor2"] == pytest.approx(0.25)
    assert m["maj3"] == pytest.approx(0.20)
    assert m["read"] == pytest.approx(0.5)
    three = sense_levels_ohm(2470, 1.0, 3)
    assert three[1] == pytest.approx(1 / (2 / 2470 + 1 / 4940))


def test_margin_check_refuses_low_tmr():
    params = with_overrides(load_device_params(), {"mtj.tmr_ratio": 0.35})
    assert check_margin(params, "and2") == pytest.approx(0.149, abs=1e-3)
    with pytest.raises(PimsimError, match=r"mtj\.tmr_ratio: maj3 sense margin 0\.095 is below"):
        check_margin(params, "maj3")
    with pytest.raises(PimsimError, match="read sense margin"):
        with_overrides(load_device_params(), {"mtj.tmr_ratio": 0.05})


def test_read_current_formula():
    """I = V (G_P + G_AP)/2: 0.1 V, 2.47 kOhm, TMR 0.9."""
    g = 0.5 * (1 / 2470 + 1 / (2470 * 1.9))
    assert mtj_read_current_ua(0.1, 2470, 0.9) == pytest.approx(0.1 * g * 1e6)


def test_sot_sense_energy_by_hand_from_the_bit_line_model():
    """SOT default, 256 rows (``array.rows``), 1 V supply, 0.1 V read bias, 0.221 ns pulse.

    Cell pitch sqrt(60 F^2) = sqrt(60) * 0.045 um = 0.34857 um; per row 0.2 fF/um * 0.34857 um
    + 0.1 fF drain = 0.169714 fF; C_BL = 256 * 0.169714 = 43.4467 fF.
    Bit line: 43.4467 fF * 1 V * 0.1 V = 4.3447 fJ.
    Read current: 0.1 V * (1/2470 + 1/4693) / 2 = 30.8971 uA; * 1 V * 0.221 ns = 6.8283 fJ.
    Sense amplifier 5 fJ. One column: 16.1729 fJ; an AND2 column adds a second cell: 23.0012 fJ.
    Shift-add: 0.1 pJ adder + 2 * 32 bits * 0.009 pJ = 0.676 pJ.
    """
    p = load_device_params("sot_mram_45nm")
    d = p.derived
    assert p.array.rows == 256 and p.circuit.supply_voltage_v == 1.0
    assert d.bitline_cap_ff == pytest.approx(43.4467, rel=1e-5)
    assert d.bitline_energy_pj == pytest.approx(4.3447e-3, rel=1e-4)
    assert d.cell_read_energy_pj == pytest.approx(6.8283e-3, rel=1e-4)
    assert d.read_bit_energy_pj == pytest.approx(16.1729e-3, rel=1e-4)
    assert d.shift_add_energy_pj == pytest.approx(0.676)
    ev = EventCounts(and2_senses=1, and2_sense_bits=256, shift_adds=1)
    c = cost(ev, p)
    assert c.energy_pj["and2"] == pytest.approx(256 * 23.0012e-3 + 2 * 0.2, rel=1e-5)
    assert c.energy_pj["shift_add"] == pytest.approx(0.676)
    # The bit line grows with the rows the sub-array has; the rest of a column does not.
    half = with_overrides(p, {"array.rows": 128}).derived
    assert half.bitline_energy_pj == pytest.approx(d.bitline_energy_pj / 2)
    assert half.read_bit_energy_pj - half.bitline_energy_pj == pytest.approx(
        d.read_bit_energy_pj - d.bitline_energy_pj)


def test_bit_line_formulas():
    assert bitline_cap_ff(100, 0.25, 0.2, 0.1) == pytest.approx(100 * (0.2 * 0.5 + 0.1))
    assert bitline_energy_pj(50.0, 1.0, 0.2) == pytest.approx(50e-15 * 0.2 * 1e12)
    assert supply_energy_pj(20.0, 1.0, 0.5) == pytest.approx(20e-6 * 0.5e-9 * 1e12)


# Keys whose values may differ between technology presets: each is a published difference
# (or a technology-specific quantity with no counterpart in the other technologies).
TECHNOLOGY_KEYS = {
    "cell.nonvolatile", "cell.area_f2", "cell.write_pulse_ns", "cell.write_energy_pj",
    "cell.access_read_energy_pj", "cell.access_write_energy_pj",
    "mtj.resistance_p_ohm", "mtj.tmr_ratio", "mtj.write_current_ua",
    "mtj.write_path_resistance_ohm",
    "sram.cell_leakage_nw", "sram.two_row_margin_frac", "sram.bitline_swing_v",
}


def _leaves(name: str) -> dict[str, dict]:
    raw = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
    return {f"{g}.{k}": leaf for g, group in raw.items() if isinstance(group, dict)
            for k, leaf in group.items()}


def test_presets_share_every_assumption_that_is_not_a_technology_difference():
    """SOT, STT and SRAM share read bias, read pulse, supply, bit line and periphery (the
    ``circuit`` group note for note), so a technology comparison reflects only the keys of
    TECHNOLOGY_KEYS."""
    leaves = {name: _leaves(name) for name in PRESETS}
    for a in PRESETS:
        for b in PRESETS:
            for key in (set(leaves[a]) & set(leaves[b])) - TECHNOLOGY_KEYS:
                assert leaves[a][key]["value"] == leaves[b][key]["value"], (a, b, key)
                if key.startswith(("circuit.", "array.")):
                    assert leaves[a][key] == leaves[b][key], (a, b, key)
    sot, stt = leaves["sot_mram_45nm"], leaves["stt_mram_45nm"]
    assert set(sot) - TECHNOLOGY_KEYS == set(stt) - TECHNOLOGY_KEYS
    assert sot["cell.read_pulse_ns"]["value"] == stt["cell.read_pulse_ns"]["value"] == 0.221
    assert sot["mtj.read_voltage_v"] == stt["mtj.read_voltage_v"]
    differing = {k for k in set(sot) & set(stt) if sot[k]["value"] != stt[k]["value"]}
    assert differing <= TECHNOLOGY_KEYS and "cell.write_pulse_ns" in differing


def test_overrides_replace_and_revalidate():
    base = load_device_params()
    new = with_overrides(base, {"cell.read_energy_pj": 0.5, "array.rows": 128})
    assert new.derived.read_bit_energy_pj == 0.5 and new.array.rows == 128
    assert base.derived.read_bit_energy_pj == pytest.approx(0.005 + 0.006828 + 0.004345,
                                                            rel=1e-3)
    assert new.note("array.rows") == "override: 128"
    with pytest.raises(PimsimError, match=r"cell\.read_enrgy_pj: unknown key"):
        with_overrides(base, {"cell.read_enrgy_pj": 1.0})
    with pytest.raises(PimsimError, match=r"array\.rows: must be > 0, got 0"):
        with_overrides(base, {"array.rows": 0})


def test_cost_and_area():
    p = load_device_params()
    ev = EventCounts(row_writes=2, row_write_bits=10, and2_senses=1, and2_sense_bits=10,
                     bitcounts=1, bitcount_bits=10, shift_adds=1)
    c = cost(ev + ev, p)
    d, k = p.derived, p.circuit
    assert c.energy_pj["and2"] == pytest.approx(
        2 * (10 * (d.read_bit_energy_pj + d.cell_read_energy_pj) + 2 * k.decoder_driver_energy_pj)
    )
    assert c.energy_pj["row_write"] == pytest.approx(
        2 * (10 * (d.write_bit_energy_pj + k.buffer_energy_per_bit_pj)
             + 2 * k.decoder_driver_energy_pj)
    )
    assert c.latency_ns["shift_add"] == pytest.approx(2 * k.shift_adder_latency_ns)
    assert c.energy_pj["shift_add"] == pytest.approx(
        2 * (k.shift_adder_energy_pj + 2 * k.accumulator_bits * k.register_energy_per_bit_pj))
    assert c.total_energy_pj == pytest.approx(sum(c.energy_pj.values()))
    assert cost(EventCounts(), p).total_energy_pj == 0
    assert subarray_area_um2(p, 256, 256) == pytest.approx(
        256 * 256 * 60 * 0.045**2 + 256 * 20 + 256 * 2
    )


# ---- one test per class of error in a parameter file ----


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((PRESETS_DIR / "sot_mram_45nm.yaml").read_text())
    mutate(raw)
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _error(tmp_path: Path, mutate) -> str:
    path = _write(tmp_path, mutate)
    with pytest.raises(PimsimError) as info:
        load_device_params(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path) + ": ")
    return message.removeprefix(str(path) + ": ")


def test_error_missing_key(tmp_path):
    msg = _error(tmp_path, lambda r: r["mtj"].pop("resistance_p_ohm"))
    assert msg == "mtj.resistance_p_ohm: missing"


def test_error_missing_group(tmp_path):
    assert _error(tmp_path, lambda r: r.pop("mtj")).startswith("mtj: missing")


def test_error_wrong_type(tmp_path):
    def mutate(r):
        r["mtj"]["read_voltage_v"]["value"] = "0.1 V"

    assert _error(tmp_path, mutate) == "mtj.read_voltage_v: must be a number, got '0.1 V'"


def test_error_wrong_type_int(tmp_path):
    def mutate(r):
        r["array"]["rows"]["value"] = 256.5

    assert _error(tmp_path, mutate) == "array.rows: must be an integer, got 256.5"


def test_error_negative(tmp_path):
    def mutate(r):
        r["mtj"]["read_voltage_v"]["value"] = -0.1

    assert _error(tmp_path, mutate) == "mtj.read_voltage_v: must be > 0, got -0.1"


def test_error_zero(tmp_path):
    def mutate(r):
        r["cell"]["write_pulse_ns"]["value"] = 0

    assert _error(tmp_path, mutate) == "cell.write_pulse_ns: must be > 0, got 0"


def test_error_fraction_above_one(tmp_path):
    def mutate(r):
        r["circuit"]["sense_amp_min_margin_frac"]["value"] = 10

    assert "circuit.sense_amp_min_margin_frac: must be < 1" in _error(tmp_path, mutate)


def test_error_unknown_key(tmp_path):
    def mutate(r):
        r["mtj"]["tmr_ration"] = r["mtj"].pop("tmr_ratio")

    assert _error(tmp_path, mutate).startswith("mtj.tmr_ration: unknown key (a typo?)")


def test_error_unknown_top_level_key(tmp_path):
    assert _error(tmp_path, lambda r: r.update(cel={})) == "cel: unknown key (a typo?)"


def test_error_no_source(tmp_path):
    def mutate(r):
        r["cell"]["area_f2"].pop("assumption")

    assert "cell.area_f2: needs exactly one" in _error(tmp_path, mutate)


def test_error_bare_value(tmp_path):
    def mutate(r):
        r["cell"]["area_f2"] = 60

    assert _error(tmp_path, mutate).startswith("cell.area_f2: must be a mapping")


def test_error_bad_technology(tmp_path):
    msg = _error(tmp_path, lambda r: r.update(technology="pcm"))
    assert msg.startswith("technology: must be one of ") and msg.endswith(", got 'pcm'")
    assert {"sot_mram", "stt_mram", "sram"} <= set(msg.split(" of ")[1].split(", got")[0]
                                                   .split(", "))


def test_error_other_technologys_group(tmp_path):
    def mutate(r):
        r["sram"] = {"cell_leakage_nw": {"value": 1, "assumption": "x"}}

    assert _error(tmp_path, mutate) == "sram: not allowed for sot_mram (it uses mtj)"


def test_error_low_margin_file(tmp_path):
    def mutate(r):
        r["mtj"]["tmr_ratio"]["value"] = 0.05

    assert _error(tmp_path, mutate).startswith("mtj.tmr_ratio: read sense margin 0.048 is below")


def test_error_sram_needs_write_energy(tmp_path):
    raw = yaml.safe_load((PRESETS_DIR / "sram_45nm.yaml").read_text())
    raw["cell"].pop("write_energy_pj")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PimsimError, match=r"s\.yaml: cell\.write_energy_pj: missing"):
        load_device_params(path)


def test_error_unreadable_and_bad_yaml(tmp_path):
    with pytest.raises(PimsimError, match="cannot read"):
        load_device_params(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cell: [1, 2\n")
    with pytest.raises(PimsimError, match="not valid YAML"):
        load_device_params(bad)
    with pytest.raises(PimsimError, match="no such device preset 'nope'"):
        load_device_params("nope")


# ---- one override mechanism (paramfile.apply_overrides) for device and mapping files ----


def test_overrides_record_notes_and_refuse_unknown_groups_in_one_line():
    sram = with_overrides(load_device_params("sram_45nm"), {"sram.two_row_margin_frac": 0.3})
    assert sram.sram.two_row_margin_frac == 0.3
    assert sram.note("sram.two_row_margin_frac") == "override: 0.3"
    assert sram.path == "device_params/sram_45nm.yaml (override)"
    for bad, message in [
        ({"mtj.tmr_ratio": 1.0}, "mtj.tmr_ratio: unknown group 'mtj'; known: cell, sram, circuit"),
        ({"tmr_ratio": 1.0}, "tmr_ratio: unknown group 'tmr_ratio'"),
        ({"cell.nonvolatile": "yes"}, "cell.nonvolatile: must be true or false, got 'yes'"),
    ]:
        with pytest.raises(PimsimError) as info:
            with_overrides(load_device_params("sram_45nm"), bad)
        assert message in str(info.value) and "\n" not in str(info.value)


def test_mapping_overrides_use_the_same_mechanism():
    base = load_mapping()
    new = mapping_with_overrides(base, {"chip.rows": 128, "policy.execution": "pipelined"})
    assert new.chip.rows == 128 and new.policy.execution == "pipelined"
    assert dict(new.notes)["chip.rows"] == "override: 128"
    assert dict(new.notes)["policy.execution"] == "override: 'pipelined'"
    assert new.path == "mappings/default.yaml (override)"
    for bad, message in [
        ({"chip.rows": 128.5}, "chip.rows: must be an integer, got 128.5"),
        ({"chip.bus_energy_per_bit_pj": -1}, "chip.bus_energy_per_bit_pj: must be > 0"),
        ({"policy.replicate": "yes"}, "policy.replicate: must be true or false"),
        ({"policy.execution": "parallel"}, "policy.execution: must be one of layer-by-layer"),
        ({"mtj.tmr_ratio": 1.0}, "mtj.tmr_ratio: unknown group 'mtj'; known: chip, policy"),
    ]:
        with pytest.raises(PimsimError) as info:
            mapping_with_overrides(base, bad)
        assert str(info.value).startswith("mappings/default.yaml (override): " + message)
        assert "\n" not in str(info.value)
