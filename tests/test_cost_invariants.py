"""Cost invariants over every device preset and both precisions, and the events table.

Families are resnet20 at 8x8 (cost only, milliseconds). Invariants: the per-event energy
columns are exactly the table's and sum to ``energy_pj`` (layers and sub-nets); a narrower
sub-net's sub-arrays are a subset of a wider one's; energy, MACs, sub-arrays and latency do not
decrease with width, and latency strictly increases with width where copies use the free
sub-arrays; every event energy is >= 0; utilization and compute utilization are in (0, 1];
chip area >= family area >= sub-net area; and one small layer costs what the formulas give by
hand.
"""

import math
from dataclasses import fields

import pytest

from pimsim.device import (
    EventCounts,
    cost,
    list_presets,
    load_device_params,
    subarray_leakage_uw,
)
from pimsim.device.events import SUBARRAY_EVENTS
from pimsim.mapper import (
    GemmLayer,
    layer_costs,
    load_mapping,
    map_family,
    mapping_with_overrides,
)
from pimsim.mapper.cost import CHIP_EVENTS, EVENTS, energy_column
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.simulate import SimulateConfig, simulate
from pimsim.simulate.costs import family_costs
from pimsim.simulate.layers import layers_of_subnets
from pimsim.simulate.run import summary_markdown

PRESETS = list_presets()
WIDTHS = (0.25, 0.5, 0.75, 1.0)
MAPPINGS = {
    "default": {},
    "serial-one-copy": {"policy.replicate": False, "policy.overlap_stages": False,
                        "policy.gate_layers": False},
    "pipelined": {"policy.execution": "pipelined"},
    "small-reload-gate": {"chip.rows": 64, "chip.cols": 64, "chip.banks": 1,
                          "chip.mats_per_bank": 1, "chip.subarrays_per_mat": 16,
                          "policy.weights": "reload", "policy.volatile_unused": "gate"},
}
ENERGY_COLUMNS = [energy_column(k) for k in EVENTS]


def test_presets_are_found():
    assert {"sot_mram_45nm", "stt_mram_45nm", "sram_45nm"} <= set(PRESETS)


def test_every_event_count_field_is_priced_by_exactly_one_kind():
    priced = [f for k in SUBARRAY_EVENTS for f in (k.count_field, k.bits_field) if f]
    assert sorted(priced) == sorted(f.name for f in fields(EventCounts))
    names = [k.name for k in EVENTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("preset", PRESETS)
def test_each_subarray_event_costs_only_its_own_kind(preset):
    params = load_device_params(preset)
    for kind in SUBARRAY_EVENTS:
        counts = {kind.count_field: 3, **({kind.bits_field: 40} if kind.bits_field else {})}
        c = cost(EventCounts(**counts), params)
        price = kind.price(params)
        assert c.energy_pj[kind.name] == pytest.approx(
            40 * price.energy_per_bit_pj * bool(kind.bits_field) + 3 * price.energy_per_event_pj)
        assert c.energy_pj[kind.name] > 0 and c.latency_ns[kind.name] > 0
        assert c.total_energy_pj == c.energy_pj[kind.name]
        assert c.total_latency_ns == c.latency_ns[kind.name]
    assert EventCounts(and2_senses=2, or2_senses=3, maj3_senses=5, row_reads=7).logic_senses == 10


@pytest.fixture(scope="module")
def families():
    """``{bits: family}`` of resnet20 at 8x8, widths 0.25 .. 1."""
    model = DynamicNet("resnet20", 10, 3, [SubnetSpec.uniform(w) for w in WIDTHS])
    return {bits: layers_of_subnets(model, (8, 8), bits) for bits in (8, 16)}


@pytest.mark.parametrize("mapping_name", list(MAPPINGS))
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("preset", PRESETS)
def test_cost_invariants(families, preset, bits, mapping_name):
    family = families[bits]
    params = load_device_params(preset)
    mapping = mapping_with_overrides(load_mapping(), MAPPINGS[mapping_name]) \
        if MAPPINGS[mapping_name] else load_mapping()
    subnets, layers = family_costs(family, params, mapping)

    # the energy columns are exactly the table's, and they sum to energy_pj
    for table in (layers, subnets):
        found = [c for c in table.columns if c.startswith("energy_") and c.endswith("_pj")
                 and c not in ("energy_pj", "energy_copy_write_pj")]
        assert found == ENERGY_COLUMNS
        assert (table[ENERGY_COLUMNS] >= 0).all().all()
        assert (table.latency_ns > 0).all()
        assert ((table.utilization > 0) & (table.utilization <= 1)).all()
    overlap = mapping.policy.overlap_stages
    for _, row in layers.iterrows():
        assert sum(row[c] for c in ENERGY_COLUMNS) == row.energy_pj
        streamed = row.latency_bus_ns + row.latency_psum_ns
        work = max(row.latency_compute_ns, streamed) if overlap \
            else row.latency_compute_ns + streamed
        assert row.latency_ns == pytest.approx(
            work + row.latency_reload_ns + row.latency_wakeup_ns, rel=1e-12)
        assert row.latency_bound_ns <= row.latency_compute_ns * (1 + 1e-12)
    for _, row in subnets.iterrows():
        assert sum(row[c] for c in ENERGY_COLUMNS) == pytest.approx(row.energy_pj, rel=1e-12)
        part = layers[layers.subnet == row.subnet]
        assert part.energy_pj.sum() == row.energy_pj and part.macs.sum() == row.macs

    # nesting and monotonicity with width
    fmap = map_family(family, mapping)
    by_width = [f"w{w:g}" for w in WIDTHS]
    ids = [fmap.subnet_subarrays(family[n]) for n in by_width]
    s = subnets.set_index("subnet").loc[by_width]
    for narrow, wide in zip(ids, ids[1:], strict=False):
        assert narrow <= wide
    for col in ("energy_pj", "macs", "subarrays", "latency_ns", "area_mm2"):
        assert s[col].is_monotonic_increasing, col
    if mapping.policy.replicate and mapping.policy.weights == "resident":
        assert (s.latency_ns.diff().iloc[1:] > 0).all()
    assert s.macs.iloc[0] < s.macs.iloc[-1]
    assert ((s.compute_utilization > 0) & (s.compute_utilization <= 1)).all()
    assert (s.latency_bound_ns <= s.layerwise_bound_ns).all()
    assert (s.chip_area_mm2 >= s.family_area_mm2).all()
    assert (s.family_area_mm2 >= s.area_mm2).all()
    assert (s.compute_subarrays <= mapping.chip.subarrays).all()
    if mapping.policy.weights == "resident":  # the copies fit: sum_l r_l n_l <= N
        running = layers.groupby("subnet").compute_subarrays.sum()
        assert (running <= mapping.chip.subarrays).all()
        assert (running == s.compute_subarrays.reindex(running.index)).all()
    assert (s.subarrays == [len(i) for i in ids]).all()
    if MAPPINGS[mapping_name].get("policy.weights") == "reload":
        assert (layers.energy_weight_reload_pj > 0).all()
    else:
        assert (layers.energy_weight_reload_pj == 0).all()


@pytest.mark.parametrize("preset", PRESETS)
def test_one_small_layer_by_hand(preset):
    """linear 10 -> 4, 2-bit weights and activations, on 16 x 8 sub-arrays, weights reloaded.

    Tiling: R = 10 over 8 columns -> 2 chunks; g = (16 - 2) // 2 = 7 channels per sub-array,
    1 tile: 2 sub-arrays. Compute events: 4 row writes of 20 bits; 32 AND2 senses, bit-counts
    and shift-adds over 160 bits. Busiest sub-array (4 channels, 8 columns): 2 row writes and 16
    of each other event. Weight reload: 4 * 2 * 2 = 16 rows of 80 bits; busiest 4 * 2 = 8 rows.
    Bus: 10 * 2 + 4 * 8 = 52 bits, one 256-bit transfer at 1 GHz, streamed during the compute
    (as are the 4 partial sums of 2 + 2 + 3 bits); the buffer reads and writes the 52 bits and
    holds them. No copies (weights reloaded). Leakage: 2 sub-arrays, which wake once per image
    when the cells are nonvolatile (layer gating).
    """
    params = load_device_params(preset)
    mapping = mapping_with_overrides(load_mapping(), {"chip.rows": 16, "chip.cols": 8,
                                                      "policy.weights": "reload"})
    layer = GemmLayer("fc", "linear", 10, 4, (1, 1), (1, 1), (0, 0), (1, 1), (1, 1), 2, 2, 8)
    row = layer_costs([layer], map_family({"w1": [layer]}, mapping), params).iloc[0]
    d, c, chip = params.derived, params.circuit, mapping.chip
    dec_e, dec_t = c.decoder_driver_energy_pj, c.decoder_driver_latency_ns
    assert (row.row_writes, row.and2_senses, row.bitcounts, row.shift_adds) == (4, 32, 32, 32)
    assert row.row_reads == row.or2_senses == row.xor2_senses == row.maj3_senses == 0
    write_bit = d.write_bit_energy_pj + c.buffer_energy_per_bit_pj
    hand = {
        "row_write": 20 * write_bit + 4 * dec_e,
        "and2": 160 * (d.read_bit_energy_pj + d.cell_read_energy_pj) + 32 * 2 * dec_e,
        "bitcount": 160 * c.bitcounter_energy_per_bit_pj,
        "shift_add": 32 * d.shift_add_energy_pj,
        "bus": 52 * chip.bus_energy_per_bit_pj,
        "weight_reload": 80 * write_bit + 16 * dec_e,
    }
    stages = (d.read_latency_ns + dec_t, c.bitcounter_latency_ns, c.shift_adder_latency_ns)
    t_compute = 2 * (d.write_latency_ns + dec_t) + 16 * max(stages) + sum(stages) - max(stages)
    t_bus = math.ceil(52 / chip.bus_width_bits) / chip.clock_ghz
    t_reload = 8 * (d.write_latency_ns + dec_t)
    woken = 2 if params.cell.nonvolatile else 0
    t_wake = chip.wakeup_latency_ns if woken else 0.0
    t_layer = max(t_compute, 2 * t_bus) + t_reload + t_wake
    hand["psum"] = 4 * (7 * chip.psum_energy_per_bit_pj + chip.psum_add_energy_pj)
    hand["buffer"] = 52 * chip.buffer_energy_per_bit_pj
    hand["wakeup"] = woken * chip.wakeup_energy_pj
    hand["leakage"] = 2 * subarray_leakage_uw(params, 16, 8) * t_layer * 1e-3
    hand["buffer_leakage"] = 52 * chip.buffer_leakage_nw_per_bit * 1e-3 * t_layer * 1e-3
    for kind in EVENTS:
        assert row[energy_column(kind)] == pytest.approx(hand.get(kind.name, 0.0), rel=1e-12)
    assert row.energy_pj == pytest.approx(sum(hand.values()), rel=1e-12)
    assert row.latency_compute_ns == pytest.approx(t_compute, rel=1e-12)
    assert row.latency_bus_ns == pytest.approx(t_bus, rel=1e-12)
    assert row.latency_reload_ns == pytest.approx(t_reload, rel=1e-12)
    assert row.latency_psum_ns == pytest.approx(t_bus, rel=1e-12)
    assert row.latency_wakeup_ns == t_wake
    assert row.latency_ns == pytest.approx(t_layer, rel=1e-12)


def test_summary_lists_every_event_with_its_energy():
    sim = simulate(SimulateConfig(cost_only=True, model="resnet20", input_size=8, num_classes=10,
                                  widths=[0.5, 1.0]))
    text = summary_markdown(sim)
    widest = sim.subnets.iloc[-1]
    for kind in EVENTS:
        line = next(x for x in text.splitlines() if x.startswith(f"| {kind.label} |"))
        assert line.split(" | ")[-1].rstrip(" |") == f"{widest[energy_column(kind)] * 1e-6:.4g}"
    assert len({k.label for k in EVENTS}) == len(EVENTS)
    assert {k.name for k in CHIP_EVENTS} == {"bus", "psum", "buffer", "weight_reload", "wakeup",
                                             "leakage", "buffer_leakage"}
