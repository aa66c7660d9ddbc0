"""Cost model of a mapped sub-net: energy by event, latency, memory, area, per layer and total.

Every costed event kind is declared once, in :data:`EVENTS`: the sub-array actions of
:data:`pimsim.device.events.SUBARRAY_EVENTS` (priced per action and per bit by the device),
then the chip-level events of :data:`CHIP_EVENTS` (priced here from the chip and the layer's
:class:`LayerUse`). Each kind gives one ``energy_<name>_pj`` column per layer and per sub-net;
``energy_pj`` is their sum, in table order.

Per weight layer of a sub-net (``L``: its :class:`GemmLayer` of ``G`` groups, ``T``: the
tiling of one group's GEMM on the chip's ``rows x cols`` sub-arrays, ``n = G * T.subarrays``):

- sub-array events: ``G *`` :func:`pimsim.device.gemm_events` ``(T, pixels)``
  (``L.events``), costed by :func:`pimsim.device.cost`.
- compute latency: the sub-arrays of a layer work in parallel, so it is the serial latency of
  the busiest one, which holds ``min(g, C_out)`` channels and ``min(cols, R)`` columns and
  computes ``ceil(pixels / r)`` pixels (``r`` weight copies, ``policy.replicate``):
  ``cost(gemm_events(Tiling(min(g, C_out), min(cols, R), ...), ceil(pixels / r)))``,
  times ``ceil(n / chip sub-arrays)`` passes when the layer is larger than the chip.
- bus: input activations (``C_in H W x_bits``) and outputs (``C_out H' W' out_bits``) cross the
  global bus once.
- weight reload (policy ``weights: reload`` only): ``G *`` :func:`weight_load_events` ``(T)``
  (``L.load_events``) every inference; its latency is the busiest sub-array's
  ``min(g, C_out) * w_bits`` row writes.
- leakage: ``P_leak = powered sub-arrays * subarray_leakage_uw`` over the layer latency;
  powered = the sub-net's own sub-arrays, except volatile (SRAM) cells under
  ``volatile_unused: keep-powered``, where every sub-array of the family stays powered.

Layer latency = compute + bus + reload (no overlap assumed: an upper bound). Totals: energy and
latency add over layers; ``fps = 1e9 / latency_ns`` (layer-by-layer) or ``1e9 / max layer
latency`` (pipelined); ``TOPS/W = 2 * MACs / energy_pj`` (2 ops per MAC; ops/pJ = TOPS/W);
``power_mw = energy_pj * fps * 1e-9``. Residual additions, pooling and requantization run in
the CMOS periphery and are not costed. The model is uncalibrated against silicon.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd

from pimsim.device import (
    DeviceParams,
    EventCounts,
    Tiling,
    cost,
    gemm_events,
    subarray_area_um2,
    subarray_leakage_uw,
    weight_load_events,
)
from pimsim.device.events import SUBARRAY_EVENTS, SubarrayEvent
from pimsim.mapper.allocate import FamilyMap, GemmLayer
from pimsim.mapper.chip import ChipParams


@dataclass(frozen=True)
class LayerUse:
    """What one mapped layer uses per inference: the quantities chip events are priced on."""

    load_events: EventCounts
    busiest: Tiling
    passes: int
    bus_bits: int
    reload: bool
    leak_uw: float
    params: DeviceParams
    chip: ChipParams


@dataclass(frozen=True)
class ChipEvent:
    """One kind of chip-level event: ``energy(use, layer_latency_ns)`` in pJ and, if it takes
    time, ``latency(use)`` in ns (written as ``latency_column``, added to the layer latency)."""

    name: str
    unit: str
    counts: str
    label: str
    energy: Callable[[LayerUse, float], float]
    latency: Callable[[LayerUse], float] | None = None
    latency_column: str | None = None


def _bus_energy(u: LayerUse, _layer_ns: float) -> float:
    """bits * bus_energy_per_bit_pj."""
    return u.bus_bits * u.chip.bus_energy_per_bit_pj


def _bus_latency(u: LayerUse) -> float:
    """ceil(bits / bus_width_bits) / clock_ghz."""
    return math.ceil(u.bus_bits / u.chip.bus_width_bits) / u.chip.clock_ghz


def _reload_energy(u: LayerUse, _layer_ns: float) -> float:
    """cost(the layer's weight-load events) under ``weights: reload``, else 0."""
    return cost(u.load_events, u.params).total_energy_pj if u.reload else 0.0


def _reload_latency(u: LayerUse) -> float:
    """The busiest sub-array's weight row writes, times the passes; 0 unless reloading."""
    if not u.reload:
        return 0.0
    return cost(weight_load_events(u.busiest), u.params).total_latency_ns * u.passes


def _leakage_energy(u: LayerUse, layer_ns: float) -> float:
    """P_leak * t_layer (uW x ns = 1e-3 pJ)."""
    return u.leak_uw * layer_ns * 1e-3


CHIP_EVENTS: tuple[ChipEvent, ...] = (
    ChipEvent("bus", "bit", "activation bits crossing the global bus (inputs in, outputs out)",
              "bus", _bus_energy, _bus_latency, "latency_bus_ns"),
    ChipEvent("weight_reload", "row; bits = columns",
              "weight rows written again every inference (policy weights: reload)",
              "weight reload", _reload_energy, _reload_latency, "latency_reload_ns"),
    ChipEvent("leakage", "sub-array x ns", "powered sub-arrays over the layer's latency",
              "leakage of powered sub-arrays", _leakage_energy),
)
EVENTS: tuple[SubarrayEvent | ChipEvent, ...] = SUBARRAY_EVENTS + CHIP_EVENTS


def energy_column(kind: SubarrayEvent | ChipEvent) -> str:
    """``energy_<name>_pj``: the layers.csv / subnets.csv column of one event kind."""
    return f"energy_{kind.name}_pj"


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
        act_in_bits = layer.c_in * layer.in_hw[0] * layer.in_hw[1] * layer.x_bits
        act_out_bits = layer.c_out * layer.pixels * layer.out_bits
        use = LayerUse(layer.load_events(chip.rows, chip.cols), _busiest(t), passes,
                       act_in_bits + act_out_bits,
                       policy.weights == "reload", leak_uw, params, chip)
        latencies = {"latency_compute_ns": compute_ns}
        for kind in CHIP_EVENTS:
            if kind.latency is not None:
                latencies[kind.latency_column] = kind.latency(use)
        latency_ns = sum(latencies.values())
        row = {"layer": layer.name, "op": layer.op, "c_in": layer.c_in, "c_out": layer.c_out,
               "kernel": f"{layer.kernel[0]}x{layer.kernel[1]}", "stride": layer.stride[0],
               "out_hw": f"{layer.out_hw[0]}x{layer.out_hw[1]}", "macs": layer.macs,
               "subarrays": len(ids), "replicas": place.replicas, "passes": passes,
               "utilization": layer.weight_bits * place.replicas
               / (len(ids) * chip.rows * chip.cols)}
        for kind in SUBARRAY_EVENTS:
            row[kind.count_field] = getattr(events, kind.count_field)
        for kind in SUBARRAY_EVENTS:
            row[energy_column(kind)] = compute.energy_pj[kind.name]
        for kind in CHIP_EVENTS:
            row[energy_column(kind)] = kind.energy(use, latency_ns)
        row["energy_pj"] = sum(row[energy_column(kind)] for kind in EVENTS)
        row.update(latencies, latency_ns=latency_ns,
                   latency_cycles=math.ceil(latency_ns * chip.clock_ghz),
                   weight_bits=layer.weight_bits, act_in_bits=act_in_bits,
                   act_out_bits=act_out_bits)
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
        **{energy_column(k): float(table[energy_column(k)].sum()) for k in EVENTS},
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
