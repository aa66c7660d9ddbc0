"""Cost model of a mapped sub-net: energy by event, latency, memory, area, per layer and total.

Per weight layer of a sub-net (``L``: its :class:`GemmLayer`, ``T``: its tiling on the chip's
``rows x cols`` sub-arrays, ``n = T.subarrays``):

- compute events: :func:`pimsim.device.gemm_events` ``(T, pixels)``, costed by
  :func:`pimsim.device.cost` (row writes of activation bit-planes, AND2 senses, bit-counts,
  shift-adds; formulas in ``pimsim.device.events``).
- compute latency: the sub-arrays of a layer work in parallel, so it is the serial latency of
  the busiest one, which holds ``min(g, C_out)`` channels and ``min(cols, R)`` columns and
  computes ``ceil(pixels / r)`` pixels (``r`` weight copies, ``policy.replicate``):
  ``cost(gemm_events(Tiling(min(g, C_out), min(cols, R), ...), ceil(pixels / r)))``,
  times ``ceil(n / chip sub-arrays)`` passes when the layer is larger than the chip.
- bus: input activations (``C_in H W x_bits``) and outputs (``C_out H' W' out_bits``) cross the
  global bus once: ``E = bits * bus_energy_per_bit_pj``, ``t = ceil(bits / bus_width) / clock``.
- weight reload (policy ``weights: reload`` only): :func:`weight_load_events` ``(T)`` every
  inference; its latency is the busiest sub-array's ``min(g, C_out) * w_bits`` row writes.
- leakage: ``P_leak * t_layer`` with ``P_leak = powered sub-arrays * subarray_leakage_uw``;
  powered = the sub-net's own sub-arrays, except volatile (SRAM) cells under
  ``volatile_unused: keep-powered``, where every sub-array of the family stays powered.
  (uW x ns = 1e-3 pJ.)

Layer latency = compute + bus + reload (no overlap assumed: an upper bound). Totals: energy and
latency add over layers; ``fps = 1e9 / latency_ns`` (layer-by-layer) or ``1e9 / max layer
latency`` (pipelined); ``TOPS/W = 2 * MACs / energy_pj`` (2 ops per MAC; ops/pJ = TOPS/W);
``power_mw = energy_pj * fps * 1e-9``. Residual additions, pooling and requantization run in
the CMOS periphery and are not costed. The model is uncalibrated against silicon.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from pimsim.device import (
    DeviceParams,
    Tiling,
    cost,
    gemm_events,
    subarray_area_um2,
    subarray_leakage_uw,
    weight_load_events,
)
from pimsim.mapper.allocate import FamilyMap, GemmLayer

EVENT_KINDS = ("row_write", "and2", "bitcount", "shift_add")


def _busiest(t: Tiling) -> Tiling:
    return replace(t, c_out=min(t.channels_per_subarray, t.c_out),
                   reduction=min(t.cols, t.reduction))


def _powered_subarrays(fmap: FamilyMap, own: int, params: DeviceParams) -> int:
    chip = fmap.mapping.chip
    volatile = not params.cell.nonvolatile
    if volatile and fmap.mapping.policy.volatile_unused == "keep-powered":
        return min(fmap.total_subarrays, chip.subarrays)
    return min(own, chip.subarrays)


def layer_costs(layers: list[GemmLayer], fmap: FamilyMap, params: DeviceParams) -> pd.DataFrame:
    """One row per weight layer of a sub-net (see the module docstring for every formula)."""
    chip, policy = fmap.mapping.chip, fmap.mapping.policy
    own = fmap.subnet_subarrays(layers)
    leak_uw = _powered_subarrays(fmap, len(own), params) * \
        subarray_leakage_uw(params, chip.rows, chip.cols)
    rows = []
    for layer in layers:
        t = layer.tiling(chip.rows, chip.cols)
        place = fmap.placements[layer.name]
        ids = place.subarray_ids(layer)
        events = layer.events(chip.rows, chip.cols)
        compute = cost(events, params)
        passes = math.ceil(layer.subarrays(chip.rows, chip.cols) / chip.subarrays)
        busiest_pixels = math.ceil(layer.pixels / place.replicas)
        compute_ns = cost(gemm_events(_busiest(t), busiest_pixels),
                          params).total_latency_ns * passes
        bus_bits = (layer.c_in * layer.in_hw[0] * layer.in_hw[1] * layer.x_bits
                    + layer.c_out * layer.pixels * layer.out_bits)
        bus_ns = math.ceil(bus_bits / chip.bus_width_bits) / chip.clock_ghz
        reload_pj = reload_ns = 0.0
        if policy.weights == "reload":
            reload_pj = cost(layer.load_events(chip.rows, chip.cols), params).total_energy_pj
            reload_ns = cost(weight_load_events(_busiest(t)), params).total_latency_ns * passes
        latency_ns = compute_ns + bus_ns + reload_ns
        row = {"layer": layer.name, "op": layer.op, "c_in": layer.c_in, "c_out": layer.c_out,
               "kernel": f"{layer.kernel[0]}x{layer.kernel[1]}", "stride": layer.stride[0],
               "out_hw": f"{layer.out_hw[0]}x{layer.out_hw[1]}", "macs": layer.macs,
               "subarrays": len(ids), "replicas": place.replicas, "passes": passes,
               "utilization": layer.weight_bits * place.replicas
               / (len(ids) * chip.rows * chip.cols),
               "row_writes": events.row_writes, "and2_senses": events.and2_senses,
               "bitcounts": events.bitcounts, "shift_adds": events.shift_adds}
        for kind in EVENT_KINDS:
            row[f"energy_{kind}_pj"] = compute.energy_pj.get(kind, 0.0)
        row["energy_bus_pj"] = bus_bits * chip.bus_energy_per_bit_pj
        row["energy_weight_reload_pj"] = reload_pj
        row["energy_leakage_pj"] = leak_uw * latency_ns * 1e-3
        row["energy_pj"] = sum(v for k, v in row.items() if k.startswith("energy_"))
        row.update(latency_compute_ns=compute_ns, latency_bus_ns=bus_ns,
                   latency_reload_ns=reload_ns, latency_ns=latency_ns,
                   latency_cycles=math.ceil(latency_ns * chip.clock_ghz),
                   weight_bits=layer.weight_bits,
                   act_in_bits=layer.c_in * layer.in_hw[0] * layer.in_hw[1] * layer.x_bits,
                   act_out_bits=layer.c_out * layer.pixels * layer.out_bits)
        rows.append(row)
    return pd.DataFrame(rows)


def subnet_totals(table: pd.DataFrame, layers: list[GemmLayer], fmap: FamilyMap,
                  params: DeviceParams) -> dict[str, float | int | str]:
    """Totals of one sub-net from its :func:`layer_costs` table."""
    chip, policy = fmap.mapping.chip, fmap.mapping.policy
    own = len(fmap.subnet_subarrays(layers))
    area_sa = subarray_area_um2(params, chip.rows, chip.cols)
    energy_pj = float(table.energy_pj.sum())
    latency_ns = float(table.latency_ns.sum())
    frame_ns = float(table.latency_ns.max()) if policy.execution == "pipelined" else latency_ns
    fps = 1e9 / frame_ns
    macs = int(table.macs.sum())
    totals: dict[str, float | int | str] = {
        "macs": macs,
        "energy_pj": energy_pj,
        "energy_per_image_uj": energy_pj * 1e-6,
        **{c: float(table[c].sum()) for c in table.columns
           if c.startswith("energy_") and c != "energy_pj"},
        "latency_ns": latency_ns,
        "latency_cycles": int(table.latency_cycles.sum()),
        "fps": fps,
        "tops_per_w": 2 * macs / energy_pj,
        "power_mw": energy_pj * fps * 1e-9,
        "weight_bits": int(table.weight_bits.sum()),
        "act_buffer_peak_bits": int((table.act_in_bits + table.act_out_bits).max()),
        "subarrays": own,
        "powered_subarrays": _powered_subarrays(fmap, own, params),
        "utilization": float((table.weight_bits * table.replicas).sum())
        / (own * chip.rows * chip.cols),
        "area_mm2": min(own, chip.subarrays) * area_sa * 1e-6,
        "family_area_mm2": min(fmap.total_subarrays, chip.subarrays) * area_sa * 1e-6,
    }
    return totals


def switch_cost(layers: list[GemmLayer], narrower: list[GemmLayer] | None, fmap: FamilyMap,
                params: DeviceParams) -> dict[str, float | str]:
    """Cost of switching this sub-net in after the next narrower one.

    Non-volatile cells keep gated weights: nothing is rewritten. Volatile cells either stayed
    powered (nothing rewritten, paid as leakage) or were gated and lost their weights: then the
    weight rows of the sub-arrays this sub-net adds are written again.
    """
    chip = fmap.mapping.chip
    if params.cell.nonvolatile:
        return {"switch_policy": "nonvolatile: gated weights kept", "switch_write_bits": 0,
                "switch_energy_pj": 0.0}
    if fmap.mapping.policy.volatile_unused == "keep-powered":
        return {"switch_policy": "volatile: unused sub-arrays kept powered",
                "switch_write_bits": 0, "switch_energy_pj": 0.0}
    before = {n.name: n for n in narrower or []}
    bits = energy = 0.0
    for layer in layers:
        copies = fmap.placements[layer.name].replicas
        new = layer.load_events(chip.rows, chip.cols) * copies
        old_layer = before.get(layer.name)
        if old_layer is not None:
            old = old_layer.load_events(chip.rows, chip.cols) * copies
            new_bits = max(0, new.row_write_bits - old.row_write_bits)
            scale = new_bits / new.row_write_bits if new.row_write_bits else 0.0
        else:
            new_bits, scale = new.row_write_bits, 1.0
        bits += new_bits
        energy += cost(new, params).total_energy_pj * scale
    return {"switch_policy": "volatile: gated weights reloaded", "switch_write_bits": int(bits),
            "switch_energy_pj": energy}
