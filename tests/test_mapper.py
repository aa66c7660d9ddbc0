"""Mapping files, nested allocation and the cost model against hand-computed values."""

import math

import pytest

from pimsim.device import load_device_params, subarray_area_um2, subarray_leakage_uw
from pimsim.errors import PimsimError
from pimsim.mapper import (
    GemmLayer,
    duplicate,
    layer_costs,
    load_mapping,
    map_family,
    mapping_with_overrides,
    step_ns,
    subnet_totals,
    switch_cost,
)
from pimsim.simulate.costs import family_costs


def linear(c_in, c_out, name="fc", x_bits=2, w_bits=2, out_bits=8):
    return GemmLayer(name, "linear", c_in, c_out, (1, 1), (1, 1), (0, 0), (1, 1), (1, 1),
                     x_bits, w_bits, out_bits)


def conv(c_in, c_out, hw, name, bits=8):
    return GemmLayer(name, "conv", c_in, c_out, (3, 3), (1, 1), (1, 1), (hw, hw), (hw, hw),
                     bits, bits, bits)


def small_chip(**chip):
    overrides = {"chip.rows": 16, "chip.cols": 8, **{f"chip.{k}": v for k, v in chip.items()}}
    return mapping_with_overrides(load_mapping(), overrides)


@pytest.mark.parametrize("overlap", [True, False])
def test_one_layer_costs_equal_hand_computation(overlap):
    """linear 10 -> 4, 2-bit weights and activations, 16 x 8 sub-arrays, SOT-MRAM.

    Tiling: R = 10 over 8 columns -> 2 chunks; g = (16 - 2) // 2 = 7 channels per sub-array
    -> 1 tile; 2 sub-arrays; one pixel, so no copies. Events (1 pixel): row writes 1*2*2*1 = 4
    over 1*2*10*1 = 20 bits; AND2 senses = bit-counts = shift-adds = 4*1*2*2*2 = 32, over
    4*2*2*10 = 160 bits. Busiest sub-array (4 channels, 8 columns): 2 row writes, 16 steps.
    Bus: 10*2 input bits + 4*8 output bits = 52 bits, one 256-bit transfer at 1 GHz = 1 ns; the
    buffer reads and writes the same 52 bits and holds them (the family's peak). Partial sums:
    4 outputs x (2 - 1) partials of 2 + 2 + log2(8) = 7 bits, one transfer = 1 ns. Layer gating:
    both sub-arrays wake once.
    """
    params = load_device_params("sot_mram_45nm")
    mapping = small_chip()
    if not overlap:
        mapping = mapping_with_overrides(mapping, {"policy.overlap_stages": False})
    layer = linear(10, 4)
    fmap = map_family({"full": [layer]}, mapping)
    row = layer_costs([layer], fmap, params).iloc[0]
    d, c, chip = params.derived, params.circuit, mapping.chip
    assert row.subarrays == 2 and fmap.total_subarrays == 2 and row.replicas == 1
    assert (row.row_writes, row.and2_senses, row.bitcounts, row.shift_adds) == (4, 32, 32, 32)
    e_write = 20 * (d.write_bit_energy_pj + c.buffer_energy_per_bit_pj) \
        + 4 * c.decoder_driver_energy_pj
    e_and = 160 * (d.read_bit_energy_pj + d.cell_read_energy_pj) \
        + 32 * 2 * c.decoder_driver_energy_pj
    assert row.energy_row_write_pj == pytest.approx(e_write, rel=1e-12)
    assert row.energy_and2_pj == pytest.approx(e_and, rel=1e-12)
    assert row.energy_bitcount_pj == pytest.approx(160 * c.bitcounter_energy_per_bit_pj)
    assert row.energy_shift_add_pj == pytest.approx(32 * d.shift_add_energy_pj)
    assert row.energy_bus_pj == pytest.approx(52 * 0.1)
    e_psum = 4 * (7 * chip.psum_energy_per_bit_pj + chip.psum_add_energy_pj)
    assert row.energy_psum_pj == pytest.approx(e_psum)
    assert row.energy_buffer_pj == pytest.approx(52 * chip.buffer_energy_per_bit_pj)
    assert row.energy_wakeup_pj == pytest.approx(2 * chip.wakeup_energy_pj)
    stages = (d.read_latency_ns + c.decoder_driver_latency_ns, c.bitcounter_latency_ns,
              c.shift_adder_latency_ns)
    t_write = 2 * (d.write_latency_ns + c.decoder_driver_latency_ns)
    if overlap:  # 16 steps of the slowest stage and one pipeline fill; transfers hidden
        t_compute = t_write + 16 * max(stages) + sum(stages) - max(stages)
        t_layer = max(t_compute, 2.0) + chip.wakeup_latency_ns
    else:
        t_compute = t_write + 16 * sum(stages)
        t_layer = t_compute + 2.0 + chip.wakeup_latency_ns
    assert row.latency_compute_ns == pytest.approx(t_compute)
    assert row.latency_ns == pytest.approx(t_layer)
    assert row.latency_cycles == math.ceil(t_layer)
    leak_pj = 2 * subarray_leakage_uw(params, 16, 8) * t_layer * 1e-3
    buffer_leak_pj = 52 * chip.buffer_leakage_nw_per_bit * 1e-3 * t_layer * 1e-3
    assert row.energy_leakage_pj == pytest.approx(leak_pj)
    assert row.energy_buffer_leakage_pj == pytest.approx(buffer_leak_pj)
    assert row.energy_pj == pytest.approx(
        e_write + e_and + 160 * c.bitcounter_energy_per_bit_pj + 32 * d.shift_add_energy_pj
        + 5.2 + e_psum + 52 * chip.buffer_energy_per_bit_pj + 2 * chip.wakeup_energy_pj
        + leak_pj + buffer_leak_pj)
    assert row.utilization == pytest.approx(4 * 10 * 2 / (2 * 16 * 8))
    totals = subnet_totals(layer_costs([layer], fmap, params), [layer], fmap, params)
    assert totals["tops_per_w"] == pytest.approx(2 * 40 / row.energy_pj)
    assert totals["fps"] == pytest.approx(1e9 / row.latency_ns)


def _family():
    full = [conv(3, 16, 8, "c1"), conv(16, 32, 8, "c2"), linear(32, 10, "fc", 8, 8)]
    half = [conv(3, 8, 8, "c1"), conv(8, 16, 8, "c2"), linear(16, 10, "fc", 8, 8)]
    quarter = [conv(3, 4, 8, "c1"), conv(4, 8, 8, "c2"), linear(8, 10, "fc", 8, 8)]
    return {"w1": full, "w0.5": half, "w0.25": quarter}


def test_nesting_and_monotonic_costs():
    params = load_device_params("sot_mram_45nm")
    fmap = map_family(_family(), mapping_with_overrides(load_mapping(), {"chip.rows": 64,
                                                                         "chip.cols": 32}))
    ids = {n: fmap.subnet_subarrays(layers) for n, layers in _family().items()}
    assert ids["w0.25"] < ids["w0.5"] < ids["w1"]
    assert len(ids["w1"]) == fmap.total_subarrays
    totals = {n: subnet_totals(layer_costs(ls, fmap, params), ls, fmap, params)
              for n, ls in _family().items()}
    for small, big in (("w0.25", "w0.5"), ("w0.5", "w1")):
        assert totals[small]["energy_pj"] < totals[big]["energy_pj"]
        assert totals[small]["latency_ns"] <= totals[big]["latency_ns"]
        assert totals[small]["area_mm2"] < totals[big]["area_mm2"]
        family = fmap.total_subarrays * subarray_area_um2(params, 64, 32) * 1e-6
        assert totals[small]["family_area_mm2"] == pytest.approx(family)
    for t in totals.values():
        assert 0 < t["utilization"] <= 1


def test_switching_rewrites_no_weights_on_mram_but_does_on_gated_sram():
    fam = _family()
    mram = load_device_params("sot_mram_45nm")
    fmap = map_family(fam, mapping_with_overrides(load_mapping(), {"chip.rows": 64}))
    assert switch_cost(fam["w1"], fam["w0.5"], fmap, mram)["switch_write_bits"] == 0
    sram = load_device_params("sram_45nm")
    gated = map_family(fam, mapping_with_overrides(load_mapping(), {
        "chip.rows": 64, "policy.volatile_unused": "gate"}))
    cost = switch_cost(fam["w1"], fam["w0.5"], gated, sram)
    added = sum(a.weight_bits - b.weight_bits for a, b in zip(fam["w1"], fam["w0.5"]))
    assert cost["switch_write_bits"] == added and cost["switch_energy_pj"] > 0
    kept = switch_cost(fam["w1"], fam["w0.5"], fmap, sram)
    assert kept["switch_write_bits"] == 0 and "kept powered" in kept["switch_policy"]
    # kept powered: the narrow sub-net leaks through the whole family's sub-arrays and its copies
    narrow = subnet_totals(layer_costs(fam["w0.25"], fmap, sram), fam["w0.25"], fmap, sram)
    copies = narrow["compute_subarrays"] - narrow["subarrays"]
    assert copies > 0
    assert narrow["powered_subarrays"] == min(fmap.total_subarrays + copies,
                                              fmap.mapping.chip.subarrays)
    narrow_g = subnet_totals(layer_costs(fam["w0.25"], gated, sram), fam["w0.25"], gated, sram)
    assert narrow_g["powered_subarrays"] == narrow_g["compute_subarrays"]
    one = mapping_with_overrides(fmap.mapping, {"policy.replicate": False})
    single = subnet_totals(layer_costs(fam["w0.25"], map_family(fam, one), sram), fam["w0.25"],
                           map_family(fam, one), sram)
    assert single["powered_subarrays"] == fmap.total_subarrays > single["subarrays"]


def test_a_family_that_does_not_fit_is_refused_or_reloaded():
    fam = {"w1": [conv(64, 64, 8, "big")]}
    tiny = small_chip(banks=1, mats_per_bank=1, subarrays_per_mat=2)
    with pytest.raises(PimsimError, match=r"chip: the sub-nets need \d+ sub-arrays of 16x8, "
                                          r"the chip has 2"):
        map_family(fam, tiny)
    reload = mapping_with_overrides(tiny, {"policy.weights": "reload"})
    params = load_device_params("sot_mram_45nm")
    fmap = map_family(fam, reload)
    row = layer_costs(fam["w1"], fmap, params).iloc[0]
    assert row.passes == math.ceil(row.subarrays / 2) and row.energy_weight_reload_pj > 0


@pytest.mark.parametrize("text, message", [
    ("name: x\nchip: {banks: {value: 2, source: s}}", "chip.mats_per_bank: missing"),
    ("name: x\nchipp: {}", "chipp: unknown key"),
    ("name: [", "not valid YAML"),
])
def test_bad_mapping_files(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(PimsimError, match=message) as info:
        load_mapping(path)
    assert str(path) in str(info.value)


def test_bad_mapping_values():
    with pytest.raises(PimsimError, match="chip.rows: must be > 0, got 0"):
        mapping_with_overrides(load_mapping(), {"chip.rows": 0})
    with pytest.raises(PimsimError, match="policy.execution: must be one of"):
        mapping_with_overrides(load_mapping(), {"policy.execution": "parallel"})
    with pytest.raises(PimsimError, match="chip.bankz: unknown key"):
        mapping_with_overrides(load_mapping(), {"chip.bankz": 2})
    with pytest.raises(PimsimError, match="chip.rows: layer c1: sub-array rows: 8 rows cannot"):
        map_family({"a": [conv(3, 4, 8, "c1")]},
                   mapping_with_overrides(load_mapping(), {"chip.rows": 8}))


def test_duplication_divides_pixels_over_copies_in_the_free_subarrays():
    """One 16 -> 16 3x3 conv at 8x8 on 64 x 32 sub-arrays, 60 on the chip: R = 144 -> 5 chunks,
    g = (64 - 8) // 8 = 7 -> 3 tiles: 15 sub-arrays per copy. w0.5 (8 -> 8: R = 72 -> 3 chunks,
    2 tiles, 6 sub-arrays) leaves more free. One layer takes the whole chip: floor(60 / 15) = 4
    copies for w1, floor(60 / 6) = 10 for w0.5."""
    params = load_device_params("sot_mram_45nm")
    fam = {"w1": [conv(16, 16, 8, "c")], "w0.5": [conv(8, 8, 8, "c")]}
    base = mapping_with_overrides(load_mapping(), {"chip.rows": 64, "chip.cols": 32,
                                                    "chip.banks": 1, "chip.mats_per_bank": 1,
                                                    "chip.subarrays_per_mat": 60,
                                                    "policy.replicate": False})
    one = map_family(fam, base)
    many = map_family(fam, mapping_with_overrides(base, {"policy.replicate": True}))
    assert one.total_subarrays == many.total_subarrays == 15  # copies are not family weights
    assert duplicate(fam["w1"], many) == {"c": 4} and duplicate(fam["w0.5"], many) == {"c": 10}
    assert duplicate(fam["w1"], one) == {"c": 1}
    a = layer_costs(fam["w1"], one, params).iloc[0]
    b = layer_costs(fam["w1"], many, params).iloc[0]
    assert b.energy_and2_pj == a.energy_and2_pj and b.and2_senses == a.and2_senses
    pixels = 8 * 8
    t_step = step_ns(params, True)
    t_write = (params.derived.write_latency_ns + params.circuit.decoder_driver_latency_ns)
    fill = step_ns(params, False) - t_step
    for row, r in ((a, 1), (b, 4)):  # busiest: 7 channels, ceil(64 / r) pixels, 64 steps each
        px = math.ceil(pixels / r)
        assert row.latency_compute_ns == pytest.approx(px * 8 * t_write + px * 7 * 64 * t_step
                                                       + fill)
    assert b.subarrays == a.subarrays == 15 and b.compute_subarrays == 60 and b.replicas == 4
    assert b.utilization == pytest.approx(a.utilization)
    subnets, _ = family_costs(fam, params, many.mapping)
    s = subnets.set_index("subnet")
    write = params.derived.write_bit_energy_pj + params.circuit.buffer_energy_per_bit_pj
    # w0.5 first (configuration): 9 copies of 8 x 8 bits x 72; w1 after w0.5, whose copies
    # spilled over w1's extra sub-arrays: 3 copies and w1's weights beyond w0.5's, rewritten
    assert s.loc["w0.5", "copy_write_bits"] == 9 * 8 * 8 * 72
    assert s.loc["w1", "copy_write_bits"] == 3 * 16 * 8 * 144 + (16 * 144 - 8 * 72) * 8
    assert s.loc["w0.5", "energy_copy_write_pj"] == pytest.approx(
        9 * (8 * 8 * 72 * write + 8 * 8 * 3 * params.circuit.decoder_driver_energy_pj))
    assert s.loc["w1", "copy_write"] == "at each switch into this sub-net"


def test_gated_sram_rewrites_spilled_weights_once():
    """Gated SRAM: the weights w1 adds are rewritten by the switch (switch_cost), the copy write
    is the 3 copies only (no double count)."""
    fam = {"w1": [conv(16, 16, 8, "c")], "w0.5": [conv(8, 8, 8, "c")]}
    mapping = mapping_with_overrides(load_mapping(), {
        "chip.rows": 64, "chip.cols": 32, "chip.banks": 1, "chip.mats_per_bank": 1,
        "chip.subarrays_per_mat": 60, "policy.volatile_unused": "gate"})
    s = family_costs(fam, load_device_params("sram_45nm"), mapping)[0].set_index("subnet")
    assert s.loc["w1", "switch_write_bits"] == (16 * 144 - 8 * 72) * 8
    assert s.loc["w1", "copy_write_bits"] == 3 * 16 * 8 * 144
