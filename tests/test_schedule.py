"""The parallel schedule by hand (two layers) and issue #13's acceptance on resnet18.

Two 1x1 convolutions on a 2x2 image (4 output pixels), 2-bit weights and activations, on a
chip of 10 sub-arrays of 16 x 8 cells, SOT-MRAM:

- ``a``: 10 -> 4 channels: R = 10 over 8 columns -> 2 chunks, g = (16 - 2) // 2 = 7 -> 1 tile:
  2 sub-arrays; steps (AND2 senses) = 4 * 4 * 2 * 2 * 2 = 128; 4 x 4 outputs with one partial
  sum of 2 + 2 + log2(8) = 7 bits each to move and add; bus and buffer 10*4*2 + 4*4*8 = 208 bits.
- ``b``: 4 -> 3 channels: R = 4 -> 1 chunk, 1 tile: 1 sub-array; steps = 3 * 4 * 2 * 2 = 48; no
  partial sums; bus and buffer 4*4*2 + 3*4*8 = 128 bits. The buffer holds the peak, 208 bits.

Duplication, layer-by-layer: shares 10 * sqrt(s) / (sqrt(128) + sqrt(48)) = 6.20 and 3.80
sub-arrays -> floor: 3 copies of ``a`` (2 sub-arrays each) and 3 of ``b``, each computing
ceil(4 / 3) = 2 pixels, which 2 copies do as well: 2 and 2, 6 sub-arrays, 4 left. Filling them:
``b`` to 4 copies (1 pixel each) saves 2 * 12 - 12 = 12 steps for 2 sub-arrays, ``a`` to 4
saves 16 for 4: ``b`` goes first; then ``a`` does not fit (2 left). Copies: a 2, b 4, each
busiest copy computing 2 and 1 pixels. Pipelined: shares 10 * s / 176 = 7.27 and 2.73 ->
floor 3 and 2 -> 2 and 2; the slowest layer (a: 2 pixels x 16 steps) takes the 4 left: a 4,
b 2.
"""

import math

import pytest

from pimsim.device import load_device_params, subarray_leakage_uw
from pimsim.mapper import (
    GemmLayer,
    duplicate,
    layer_costs,
    load_mapping,
    map_family,
    mapping_with_overrides,
    subnet_totals,
)
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.simulate.costs import family_costs
from pimsim.simulate.layers import layers_of_subnets

A = GemmLayer("a", "conv", 10, 4, (1, 1), (1, 1), (0, 0), (2, 2), (2, 2), 2, 2, 8)
B = GemmLayer("b", "conv", 4, 3, (1, 1), (1, 1), (0, 0), (2, 2), (2, 2), 2, 2, 8)


def tiny(**policy):
    return mapping_with_overrides(load_mapping(), {
        "chip.rows": 16, "chip.cols": 8, "chip.banks": 1, "chip.mats_per_bank": 1,
        "chip.subarrays_per_mat": 10, **{f"policy.{k}": v for k, v in policy.items()}})


def stage_times(params):
    d, c = params.derived, params.circuit
    t_write = d.write_latency_ns + c.decoder_driver_latency_ns
    return t_write, (d.read_latency_ns + c.decoder_driver_latency_ns, c.bitcounter_latency_ns,
                     c.shift_adder_latency_ns)


@pytest.mark.parametrize("overlap", [True, False])
def test_two_layers_layer_by_layer_by_hand(overlap):
    params = load_device_params("sot_mram_45nm")
    mapping = tiny(overlap_stages=overlap)
    chip = mapping.chip
    fmap = map_family({"w1": [A, B]}, mapping)
    assert fmap.total_subarrays == 3 and fmap.buffer_bits == 208
    assert duplicate([A, B], fmap) == {"a": 2, "b": 4}
    table = layer_costs([A, B], fmap, params).set_index("layer")
    t_write, stages = stage_times(params)
    step = max(stages) if overlap else sum(stages)
    fill = sum(stages) - step
    # busiest copy: a 2 pixels of 4 channels x 4 bit pairs, b 1 pixel of 3 x 4; 2 activation
    # rows a pixel
    compute = {"a": 4 * t_write + 2 * 16 * step + fill, "b": 2 * t_write + 12 * step + fill}
    transfer = {"a": 1.0 + 1.0, "b": 1.0 + 0.0}  # bus (one 256-bit beat) + partial sums
    leak_sa = subarray_leakage_uw(params, 16, 8)
    for name, subarrays, r, bits, psums in (("a", 2, 2, 208, 16), ("b", 1, 4, 128, 0)):
        row = table.loc[name]
        assert (row.subarrays, row.replicas, row.compute_subarrays) == (subarrays, r,
                                                                        r * subarrays)
        assert row.latency_compute_ns == pytest.approx(compute[name], rel=1e-12)
        work = max(compute[name], transfer[name]) if overlap \
            else compute[name] + transfer[name]
        t_layer = work + chip.wakeup_latency_ns  # gated: its sub-arrays wake once
        assert row.latency_ns == pytest.approx(t_layer, rel=1e-12)
        assert row.latency_psum_ns == (1.0 if psums else 0.0)
        assert row.energy_psum_pj == pytest.approx(
            psums * (7 * chip.psum_energy_per_bit_pj + chip.psum_add_energy_pj), rel=1e-12)
        assert row.energy_buffer_pj == pytest.approx(bits * chip.buffer_energy_per_bit_pj)
        assert row.energy_wakeup_pj == pytest.approx(r * subarrays * chip.wakeup_energy_pj)
        # only the running layer's sub-arrays (and copies) leak, only while it runs
        assert row.energy_leakage_pj == pytest.approx(r * subarrays * leak_sa * t_layer * 1e-3,
                                                      rel=1e-12)
        assert row.energy_buffer_leakage_pj == pytest.approx(
            208 * chip.buffer_leakage_nw_per_bit * 1e-3 * t_layer * 1e-3, rel=1e-12)
    totals = subnet_totals(table.reset_index(), [A, B], fmap, params)
    assert totals["step_ns"] == step
    assert totals["latency_bound_ns"] == pytest.approx(176 * step / 10, rel=1e-12)
    assert totals["layerwise_bound_ns"] == pytest.approx(
        (math.sqrt(128) + math.sqrt(48)) ** 2 * step / 10, rel=1e-12)
    assert totals["frame_interval_ns"] == totals["latency_ns"] == table.latency_ns.sum()
    assert totals["compute_utilization"] == pytest.approx(
        totals["latency_bound_ns"] / totals["latency_ns"], rel=1e-12)
    assert (totals["subarrays"], totals["compute_subarrays"], totals["powered_subarrays"]) == \
        (3, 8, 8)


def test_two_layers_pipelined_by_hand():
    """Shares by work, then the slowest layer: 4 copies of a, 2 of b (b's busiest copy: 2
    pixels). Every running sub-array leaks for the frame interval (the slowest layer); nothing
    is gated."""
    params = load_device_params("sot_mram_45nm")
    fmap = map_family({"w1": [A, B]}, tiny(execution="pipelined"))
    assert duplicate([A, B], fmap) == {"a": 4, "b": 2}
    table = layer_costs([A, B], fmap, params).set_index("layer")
    frame = table.latency_ns.max()
    leak_sa = subarray_leakage_uw(params, 16, 8)
    assert (table.energy_wakeup_pj == 0).all() and (table.latency_wakeup_ns == 0).all()
    for name, running in (("a", 8), ("b", 2)):
        assert table.loc[name, "energy_leakage_pj"] == pytest.approx(
            running * leak_sa * frame * 1e-3, rel=1e-12)
    totals = subnet_totals(table.reset_index(), [A, B], fmap, params)
    assert totals["fps"] == pytest.approx(1e9 / frame)
    assert totals["latency_ns"] == pytest.approx(table.latency_ns.sum())


def test_sram_keeps_weights_only_while_powered():
    """SRAM is never gated per layer: every sub-array holding weights leaks for the whole
    image; under keep-powered that is the whole family and the copies."""
    sram = load_device_params("sram_45nm")
    narrow = [GemmLayer("a", "conv", 5, 2, (1, 1), (1, 1), (0, 0), (2, 2), (2, 2), 2, 2, 8),
              GemmLayer("b", "conv", 2, 3, (1, 1), (1, 1), (0, 0), (2, 2), (2, 2), 2, 2, 8)]
    fmap = map_family({"w0.5": narrow, "w1": [A, B]}, tiny())
    table = layer_costs(narrow, fmap, sram)
    totals = subnet_totals(table, narrow, fmap, sram)
    copies = totals["compute_subarrays"] - totals["subarrays"]
    assert totals["powered_subarrays"] == min(10, fmap.total_subarrays + copies)
    leak = subarray_leakage_uw(sram, 16, 8) * totals["powered_subarrays"]
    assert (table.energy_wakeup_pj == 0).all()
    assert table.energy_leakage_pj.sum() == pytest.approx(leak * table.latency_ns.sum() * 1e-3)


@pytest.fixture(scope="module")
def resnet18():
    model = DynamicNet("resnet18", 1000, 3, [SubnetSpec.uniform(w)
                                             for w in (0.25, 0.5, 0.75, 1.0)])
    return {bits: layers_of_subnets(model, (224, 224), bits) for bits in (8, 16)}


@pytest.mark.parametrize("bits", [8, 16])
def test_resnet18_latency_follows_width(resnet18, bits):
    """Issue #13: strictly decreasing with width at every step; w0.25 <= 0.3 x w1."""
    s, _ = family_costs(resnet18[bits], load_device_params("sot_mram_45nm"), load_mapping())
    s = s.set_index("subnet").loc[["w0.25", "w0.5", "w0.75", "w1"]]
    assert (s.latency_ns.diff().iloc[1:] > 0).all()
    assert s.latency_ns["w0.25"] <= 0.3 * s.latency_ns["w1"]
    assert ((s.compute_utilization > 0) & (s.compute_utilization <= 1)).all()
    assert (s.chip_area_mm2 >= s.family_area_mm2).all()
    assert (s.family_area_mm2 >= s.area_mm2).all()


def test_resnet18_schedule_near_its_bounds_and_leakage(resnet18):
    """Issue #13, w1 8-bit: layer-by-layer <= 2 x the layer-wise bound; pipelined frame
    interval <= 5 x the chip bound; SOT leakage < 5 % of the energy layer-by-layer; SRAM kept
    powered leaks through at least the whole family for every sub-net."""
    family = resnet18[8]
    sot = load_device_params("sot_mram_45nm")
    s, _ = family_costs(family, sot, load_mapping())
    w1 = s.set_index("subnet").loc["w1"]
    assert w1.latency_ns <= 2 * w1.layerwise_bound_ns
    assert (s.energy_leakage_pj + s.energy_buffer_leakage_pj < 0.05 * s.energy_pj).all()
    p, _ = family_costs(family, sot, mapping_with_overrides(load_mapping(),
                                                             {"policy.execution": "pipelined"}))
    w1p = p.set_index("subnet").loc["w1"]
    assert w1p.frame_interval_ns <= 5 * w1p.latency_bound_ns
    assert ((p.compute_utilization > 0) & (p.compute_utilization <= 1)).all()
    sram = load_device_params("sram_45nm")
    k, _ = family_costs(family, sram, load_mapping())
    fmap = map_family(family, load_mapping())
    assert (k.powered_subarrays >= fmap.total_subarrays).all()
    assert (k.energy_leakage_pj / k.energy_pj > s.energy_leakage_pj / s.energy_pj).all()
