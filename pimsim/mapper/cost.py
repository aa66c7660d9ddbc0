"""Cost model of a mapped sub-net: energy by event, latency, bounds, memory, area.

Every costed event kind is declared once, in :data:`EVENTS`: the sub-array actions of
:data:`pimsim.device.events.SUBARRAY_EVENTS` (priced per action and per bit by the device),
then the chip-level events of :data:`CHIP_EVENTS` (priced here from the chip and the layer's
:class:`LayerUse`). Each kind gives one ``energy_<name>_pj`` column per layer and per sub-net;
``energy_pj`` is their sum, in table order.

Per weight layer of a sub-net (``L``: its :class:`GemmLayer` of ``G`` groups, ``T``: the
tiling of one group's GEMM on the chip's ``rows x cols`` sub-arrays, ``n = G * T.subarrays``,
``r``: its copies from :func:`pimsim.mapper.allocate.duplicate`, ``N``: the chip's sub-arrays):

- sub-array events: ``G *`` :func:`pimsim.device.gemm_events` ``(T, pixels)``
  (``L.events``), costed by :func:`pimsim.device.cost`; copies add no dynamic energy.
- compute latency: the sub-arrays of a layer and its copies work in parallel; the busiest holds
  ``min(g, C_out)`` channels and ``min(cols, R)`` columns and computes ``ceil(pixels / r)``
  pixels: :func:`compute_ns` of its events (row writes serial, then ``steps * step_ns`` with
  :func:`step_ns` the slowest of sense, bit-count and shift-add when ``policy.overlap_stages``,
  their sum otherwise, plus one pipeline fill), times ``ceil(n / N)`` passes when the layer is
  larger than the chip (weights reloaded).
- bus: input activations (``C_in H W x_bits``) and outputs (``C_out H' W' out_bits``) cross the
  global bus once: ``ceil(bits / bus_width_bits) / clock_ghz``.
- partial sums: when the reduction spans ``C > 1`` column chunks, each output gathers ``C - 1``
  partials of ``x_bits + w_bits + ceil(log2(min(R, cols)))`` bits (moved at
  ``psum_energy_per_bit_pj``, added at ``psum_add_energy_pj``) over one bus-wide link.
- activation buffer: every input bit is read from it and every output bit written to it once
  (``buffer_energy_per_bit_pj``); it holds the family's peak ``act_in + act_out`` of one layer
  (``FamilyMap.buffer_bits``) and leaks ``buffer_leakage_nw_per_bit`` while the chip runs.
- weight reload (policy ``weights: reload`` only): ``G *`` :func:`weight_load_events` ``(T)``
  (``L.load_events``) every inference; its latency is the busiest sub-array's
  ``min(g, C_out) * w_bits`` row writes.
- power gating (nonvolatile cells, layer-by-layer, ``policy.gate_layers``): only the running
  layer's ``n * r`` sub-arrays are powered, each woken once per image
  (``wakeup_energy_pj``; ``wakeup_latency_ns`` once per layer).
- leakage (:func:`powered`): layer-by-layer, the powered sub-arrays over the layer latency
  (gated: the layer's own; otherwise every powered one); pipelined, every running sub-array
  (and the idle powered ones, shared equally among the layers) over the frame interval. Volatile
  cells keep weights only while powered: never gated per layer, and under
  ``volatile_unused: keep-powered`` the whole family and the copies leak.

Layer latency = ``max(compute, bus + partial sums)`` when stages overlap (transfers stream while
the sub-arrays work), their sum otherwise, plus reload and wake-up. Totals: energy and latency add
over layers; frame interval = the latency (layer-by-layer) or the slowest layer (pipelined over
images), ``fps = 1e9 / frame interval``; ``TOPS/W = 2 * MACs / energy_pj`` (2 ops per MAC);
``power_mw = energy_pj * fps * 1e-9``; bounds in :func:`subnet_totals`. Copies are written when
a sub-net is switched in (:func:`copy_write_cost`). Residual additions, pooling and
requantization run in the CMOS periphery and are not costed. The model is uncalibrated against
silicon.
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
from pimsim.device.events import SUBARRAY_EVENTS, SubarrayEvent, prices
from pimsim.mapper.allocate import FamilyMap, GemmLayer, duplicate
from pimsim.mapper.chip import ChipParams


@dataclass(frozen=True)
class LayerUse:
    """What one mapped layer uses per inference: the quantities chip events are priced on."""

    load_events: EventCounts
    busiest: Tiling
    passes: int
    bus_bits: int
    psum_values: int
    psum_bits: int
    buffer_bits: int
    wake_subarrays: int
    reload: bool
    params: DeviceParams
    chip: ChipParams


@dataclass(frozen=True)
class ChipEvent:
    """One kind of chip-level event: ``energy(use, layer)`` in pJ and, if it takes time,
    ``latency(use)`` in ns (written as ``latency_column``). A ``streams`` latency overlaps the
    compute when ``policy.overlap_stages`` (data move while the sub-arrays work); others add."""

    name: str
    unit: str
    counts: str
    label: str
    energy: Callable[[LayerUse, Leak], float]
    latency: Callable[[LayerUse], float] | None = None
    latency_column: str | None = None
    streams: bool = False


@dataclass(frozen=True)
class Leak:
    """Leakage power charged to one layer row (its sub-arrays', the buffer's share) and the
    window it lasts (the layer latency, or the frame interval when pipelined)."""

    subarray_uw: float
    buffer_uw: float
    window_ns: float


def _transfer_ns(bits: int, chip: ChipParams) -> float:
    """ceil(bits / bus_width_bits) / clock_ghz."""
    return math.ceil(bits / chip.bus_width_bits) / chip.clock_ghz


def _bus_energy(u: LayerUse, _leak: Leak) -> float:
    """bits * bus_energy_per_bit_pj."""
    return u.bus_bits * u.chip.bus_energy_per_bit_pj


def _bus_latency(u: LayerUse) -> float:
    return _transfer_ns(u.bus_bits, u.chip)


def _psum_energy(u: LayerUse, _leak: Leak) -> float:
    """values * (psum_bits * psum_energy_per_bit_pj + psum_add_energy_pj)."""
    c = u.chip
    return u.psum_values * (u.psum_bits * c.psum_energy_per_bit_pj + c.psum_add_energy_pj)


def _psum_latency(u: LayerUse) -> float:
    """The partials cross one bus-wide link: ceil(values * psum_bits / width) / clock."""
    return _transfer_ns(u.psum_values * u.psum_bits, u.chip)


def _buffer_energy(u: LayerUse, _leak: Leak) -> float:
    """(act_in + act_out bits) * buffer_energy_per_bit_pj: inputs read, outputs written once."""
    return u.buffer_bits * u.chip.buffer_energy_per_bit_pj


def _reload_energy(u: LayerUse, _leak: Leak) -> float:
    """cost(the layer's weight-load events) under ``weights: reload``, else 0."""
    return cost(u.load_events, u.params).total_energy_pj if u.reload else 0.0


def _reload_latency(u: LayerUse) -> float:
    """The busiest sub-array's weight row writes, times the passes; 0 unless reloading."""
    if not u.reload:
        return 0.0
    return cost(weight_load_events(u.busiest), u.params).total_latency_ns * u.passes


def _wakeup_energy(u: LayerUse, _leak: Leak) -> float:
    """woken sub-arrays * wakeup_energy_pj."""
    return u.wake_subarrays * u.chip.wakeup_energy_pj


def _wakeup_latency(u: LayerUse) -> float:
    """wakeup_latency_ns once (all of the layer's sub-arrays wake together), if any wake."""
    return u.chip.wakeup_latency_ns if u.wake_subarrays else 0.0


def _leakage_energy(_u: LayerUse, leak: Leak) -> float:
    """P_leak * window (uW x ns = 1e-3 pJ)."""
    return leak.subarray_uw * leak.window_ns * 1e-3


def _buffer_leakage_energy(_u: LayerUse, leak: Leak) -> float:
    """buffer bits * buffer_leakage_nw_per_bit * window."""
    return leak.buffer_uw * leak.window_ns * 1e-3


CHIP_EVENTS: tuple[ChipEvent, ...] = (
    ChipEvent("bus", "bit", "activation bits crossing the global bus (inputs in, outputs out)",
              "bus", _bus_energy, _bus_latency, "latency_bus_ns", streams=True),
    ChipEvent("psum", "partial sum", "partial sums moved and added when the reduction spans "
              "several column chunks", "partial-sum reduction", _psum_energy, _psum_latency,
              "latency_psum_ns", streams=True),
    ChipEvent("buffer", "bit", "activation bits read from / written to the activation buffer",
              "activation buffer", _buffer_energy),
    ChipEvent("weight_reload", "row; bits = columns",
              "weight rows written again every inference (policy weights: reload)",
              "weight reload", _reload_energy, _reload_latency, "latency_reload_ns"),
    ChipEvent("wakeup", "sub-array", "gated sub-arrays woken for their layer (layer gating)",
              "wake-up of gated sub-arrays", _wakeup_energy, _wakeup_latency,
              "latency_wakeup_ns"),
    ChipEvent("leakage", "sub-array x ns", "powered sub-arrays over the layer's latency",
              "leakage of powered sub-arrays", _leakage_energy),
    ChipEvent("buffer_leakage", "bit x ns", "the activation buffer over the layer's latency",
              "leakage of the activation buffer", _buffer_leakage_energy),
)
EVENTS: tuple[SubarrayEvent | ChipEvent, ...] = SUBARRAY_EVENTS + CHIP_EVENTS


def energy_column(kind: SubarrayEvent | ChipEvent) -> str:
    """``energy_<name>_pj``: the layers.csv / subnets.csv column of one event kind."""
    return f"energy_{kind.name}_pj"


def step_ns(params: DeviceParams, overlap: bool) -> float:
    """One sub-array step (AND2 sense, bit-count, shift-add of one weight/activation bit pair):
    the slowest of the three stages when they are pipelined (``policy.overlap_stages``), their
    sum otherwise."""
    table = prices(params)
    stages = [table[name].latency_ns for name in ("and2", "bitcount", "shift_add")]
    return max(stages) if overlap else sum(stages)


def compute_ns(events: EventCounts, params: DeviceParams, overlap: bool) -> float:
    """One sub-array's compute time. Serial: ``cost(events).total_latency_ns``. With overlapped
    stages: the row writes, then the slowest stage's total time (every other event kind is a
    pipeline stage: sense, bit-count, shift-add, one of each per step), plus one pipeline fill
    (the other stages' latency once). Row writes of the activation planes stay serial: a plane
    must be written before any sense reads it, and the sub-array has no spare rows to write the
    next pixel's planes while it senses."""
    c = cost(events, params)
    if not overlap:
        return c.total_latency_ns
    staged = [kind for kind in SUBARRAY_EVENTS
              if kind.name != "row_write" and getattr(events, kind.count_field)]
    if not staged:
        return c.latency_ns["row_write"]
    table = prices(params)
    latencies = [table[kind.name].latency_ns for kind in staged]
    return (c.latency_ns["row_write"] + max(c.latency_ns[kind.name] for kind in staged)
            + sum(latencies) - max(latencies))


def _busiest(t: Tiling) -> Tiling:
    return replace(t, c_out=min(t.channels_per_subarray, t.c_out),
                   reduction=min(t.cols, t.reduction))


def psum_bits(layer: GemmLayer, cols: int) -> int:
    """Width of one chunk's partial sum: x_bits + w_bits + ceil(log2(min(R, cols)))."""
    return layer.x_bits + layer.w_bits + math.ceil(math.log2(min(layer.reduction, cols)))


@dataclass(frozen=True)
class Powered:
    """Sub-arrays of a running sub-net: ``own`` hold its weights (more than the chip when
    weights are reloaded), ``running`` compute (own weights and copies, at most the chip),
    ``powered`` leak (the running ones, or the family and the copies for volatile cells kept
    powered), ``gated``: each layer's sub-arrays leak only while it runs (layer gating)."""

    own: int
    running: int
    powered: int
    gated: bool


def powered(layers: list[GemmLayer], fmap: FamilyMap, params: DeviceParams,
            copies: dict[str, int]) -> Powered:
    """Who leaks: volatile cells keep weights only while powered, so under
    ``volatile_unused: keep-powered`` every sub-array holding weights (family and copies, at
    most the chip) leaks for the whole inference; nonvolatile cells are gated per layer in
    layer-by-layer execution with ``policy.gate_layers``."""
    chip, policy = fmap.mapping.chip, fmap.mapping.policy
    own = fmap.subnet_subarray_count(layers)
    extra = sum((copies[x.name] - 1) * x.subarrays(chip.rows, chip.cols) for x in layers)
    running = min(own + extra, chip.subarrays)
    if not params.cell.nonvolatile:
        if policy.volatile_unused == "keep-powered":
            return Powered(own, running,
                           min(chip.subarrays, min(fmap.total_subarrays, chip.subarrays) + extra),
                           False)
        return Powered(own, running, running, False)
    gated = policy.gate_layers and policy.execution == "layer-by-layer"
    return Powered(own, running, running, gated)


def layer_costs(layers: list[GemmLayer], fmap: FamilyMap, params: DeviceParams) -> pd.DataFrame:
    """One row per weight layer of a sub-net (see the module docstring for every formula)."""
    chip, policy = fmap.mapping.chip, fmap.mapping.policy
    copies = duplicate(layers, fmap)
    power = powered(layers, fmap, params, copies)
    leak_sa_uw = subarray_leakage_uw(params, chip.rows, chip.cols)
    buffer_uw = fmap.buffer_bits * chip.buffer_leakage_nw_per_bit * 1e-3
    step = step_ns(params, policy.overlap_stages)
    rows, uses = [], []
    for layer in layers:
        t = layer.tiling(chip.rows, chip.cols)
        r = copies[layer.name]
        own = layer.subarrays(chip.rows, chip.cols)
        events = layer.events(chip.rows, chip.cols)
        compute = cost(events, params)
        passes = math.ceil(own / chip.subarrays)
        busiest_tiling = _busiest(t)
        busiest = gemm_events(busiest_tiling, math.ceil(layer.pixels / r))
        latencies = {"latency_compute_ns": compute_ns(busiest, params, policy.overlap_stages)
                     * passes}
        use = LayerUse(layer.load_events(chip.rows, chip.cols), busiest_tiling, passes,
                       layer.act_in_bits + layer.act_out_bits,
                       layer.groups * layer.c_out * layer.pixels * (t.chunks - 1),
                       psum_bits(layer, chip.cols), layer.act_in_bits + layer.act_out_bits,
                       own * r if power.gated else 0, policy.weights == "reload", params, chip)
        streamed = 0.0
        for kind in CHIP_EVENTS:
            if kind.latency is not None:
                latencies[kind.latency_column] = kind.latency(use)
                if kind.streams:
                    streamed += latencies[kind.latency_column]
        latency_ns = sum(latencies.values())
        if policy.overlap_stages:
            latency_ns += max(0.0, streamed - latencies["latency_compute_ns"]) - streamed
        row = {"layer": layer.name, "op": layer.op, "c_in": layer.c_in, "c_out": layer.c_out,
               "kernel": f"{layer.kernel[0]}x{layer.kernel[1]}", "stride": layer.stride[0],
               "out_hw": f"{layer.out_hw[0]}x{layer.out_hw[1]}", "macs": layer.macs,
               "subarrays": own, "replicas": r, "compute_subarrays": own * r,
               "passes": passes, "utilization": layer.weight_bits / (own * chip.rows * chip.cols),
               "steps": events.and2_senses,
               "latency_bound_ns": events.and2_senses * step / min(own * r, chip.subarrays)}
        for kind in SUBARRAY_EVENTS:
            row[kind.count_field] = getattr(events, kind.count_field)
        for kind in SUBARRAY_EVENTS:
            row[energy_column(kind)] = compute.energy_pj[kind.name]
        row.update(latencies, latency_ns=latency_ns,
                   latency_cycles=math.ceil(latency_ns * chip.clock_ghz),
                   weight_bits=layer.weight_bits, act_in_bits=layer.act_in_bits,
                   act_out_bits=layer.act_out_bits)
        rows.append(row)
        uses.append(use)
    frame_ns = max(row["latency_ns"] for row in rows)
    idle = power.powered - power.running
    for row, use in zip(rows, uses, strict=True):
        if policy.execution == "pipelined":
            leak = Leak((row["compute_subarrays"] + idle / len(rows)) * leak_sa_uw,
                        buffer_uw / len(rows), frame_ns)
        elif power.gated:
            leak = Leak(row["compute_subarrays"] * leak_sa_uw, buffer_uw, row["latency_ns"])
        else:
            leak = Leak(power.powered * leak_sa_uw, buffer_uw, row["latency_ns"])
        for kind in CHIP_EVENTS:
            row[energy_column(kind)] = kind.energy(use, leak)
        row["energy_pj"] = sum(row[energy_column(kind)] for kind in EVENTS)
    late = [energy_column(kind) for kind in CHIP_EVENTS] + ["energy_pj"]
    columns = [c for c in rows[0] if c not in late]
    at = columns.index("latency_compute_ns")
    return pd.DataFrame(rows, columns=columns[:at] + late + columns[at:])


def subnet_totals(table: pd.DataFrame, layers: list[GemmLayer], fmap: FamilyMap,
                  params: DeviceParams) -> dict[str, float | int | str]:
    """Totals of one sub-net from its :func:`layer_costs` table, with its bounds:
    ``latency_bound_ns = steps * step_ns / N`` (the sub-net's AND2 steps spread over the chip's
    ``N`` sub-arrays: no schedule has a shorter frame interval), ``layerwise_bound_ns =
    (sum_l sqrt(steps_l))^2 * step_ns / N`` (layer-by-layer with the chip split among the
    layers, ``N_l ~ sqrt(steps_l)``) and ``compute_utilization = latency_bound_ns * fps / 1e9``."""
    chip, policy = fmap.mapping.chip, fmap.mapping.policy
    power = powered(layers, fmap, params, dict(zip(table.layer, table.replicas, strict=True)))
    area_sa = subarray_area_um2(params, chip.rows, chip.cols)
    energy_pj = float(table.energy_pj.sum())
    latency_ns = float(table.latency_ns.sum())
    frame_ns = float(table.latency_ns.max()) if policy.execution == "pipelined" else latency_ns
    fps = 1e9 / frame_ns
    macs = int(table.macs.sum())
    step = step_ns(params, policy.overlap_stages)
    bound_ns = float(table.steps.sum()) * step / chip.subarrays
    family_area_mm2 = min(fmap.total_subarrays, chip.subarrays) * area_sa * 1e-6
    return {
        "macs": macs,
        "energy_pj": energy_pj,
        "energy_per_image_uj": energy_pj * 1e-6,
        **{c: float(v) for c, v in table[[energy_column(k) for k in EVENTS]].sum().items()},
        "latency_ns": latency_ns,
        "latency_cycles": int(table.latency_cycles.sum()),
        "frame_interval_ns": frame_ns,
        "fps": fps,
        "step_ns": step,
        "latency_bound_ns": bound_ns,
        "layerwise_bound_ns": float(sum(math.sqrt(x) for x in table.steps)) ** 2 * step
        / chip.subarrays,
        "compute_utilization": bound_ns / frame_ns,
        "tops_per_w": 2 * macs / energy_pj,
        "power_mw": energy_pj * fps * 1e-9,
        "weight_bits": int(table.weight_bits.sum()),
        "act_buffer_peak_bits": int((table.act_in_bits + table.act_out_bits).max()),
        "buffer_bits": fmap.buffer_bits,
        "subarrays": power.own,
        "compute_subarrays": power.running,
        "powered_subarrays": power.powered,
        "utilization": float(table.weight_bits.sum()) / (power.own * chip.rows * chip.cols),
        "area_mm2": min(power.own, chip.subarrays) * area_sa * 1e-6,
        "family_area_mm2": family_area_mm2,
        "chip_area_mm2": chip_area_mm2(fmap, params),
    }


def chip_area_mm2(fmap: FamilyMap, params: DeviceParams) -> float:
    """Every sub-array of the chip times ``(1 + periphery_area_ratio)`` (accumulators,
    partial-sum adders, H-tree and control) plus the activation buffer
    (``buffer_bits * buffer_area_um2_per_bit``)."""
    chip = fmap.mapping.chip
    arrays_um2 = chip.subarrays * subarray_area_um2(params, chip.rows, chip.cols)
    return (arrays_um2 * (1 + chip.periphery_area_ratio)
            + fmap.buffer_bits * chip.buffer_area_um2_per_bit) * 1e-6


def _added_weights(layers: list[GemmLayer], narrower: list[GemmLayer] | None, fmap: FamilyMap,
                   params: DeviceParams) -> tuple[int, float]:
    """Bits and energy of writing this sub-net's weights that the next narrower one lacks."""
    chip = fmap.mapping.chip
    before = {n.name: n for n in narrower or []}
    bits = energy = 0.0
    for layer in layers:
        new = layer.load_events(chip.rows, chip.cols)
        old_layer = before.get(layer.name)
        if old_layer is not None:
            old = old_layer.load_events(chip.rows, chip.cols)
            new_bits = max(0, new.row_write_bits - old.row_write_bits)
            scale = new_bits / new.row_write_bits if new.row_write_bits else 0.0
        else:
            new_bits, scale = new.row_write_bits, 1.0
        bits += new_bits
        energy += cost(new, params).total_energy_pj * scale
    return int(bits), energy


def copy_write_cost(layers: list[GemmLayer], narrower: list[GemmLayer] | None,
                    fmap: FamilyMap, params: DeviceParams) -> dict[str, float | int | str]:
    """Writing the copies of :func:`duplicate` when this sub-net is switched in (once at
    configuration for a single sub-net): ``(r_l - 1)`` weight loads of every layer, plus this
    sub-net's weights beyond the next narrower one's when that one's copies did not fit in the
    sub-arrays no sub-net uses and overwrote them (rewritten as a gated SRAM's are, and counted
    there, by :func:`switch_cost`, when volatile cells are gated)."""
    chip = fmap.mapping.chip
    copies = duplicate(layers, fmap)
    extra = EventCounts()
    for layer in layers:
        extra = extra + layer.load_events(chip.rows, chip.cols) * (copies[layer.name] - 1)
    bits, energy = extra.row_write_bits, cost(extra, params).total_energy_pj
    reloaded = not params.cell.nonvolatile and fmap.mapping.policy.volatile_unused == "gate"
    if narrower is not None and not reloaded:  # (gated SRAM: switch_cost rewrites them)
        spare = chip.subarrays - fmap.total_subarrays
        spilled = powered(narrower, fmap, params, duplicate(narrower, fmap))
        if spilled.running - spilled.own > spare:
            more_bits, more_energy = _added_weights(layers, narrower, fmap, params)
            bits, energy = bits + more_bits, energy + more_energy
    when = "at each switch into this sub-net" if bits else "none"
    return {"copy_write": when, "copy_write_bits": int(bits), "energy_copy_write_pj": energy}


def switch_cost(layers: list[GemmLayer], narrower: list[GemmLayer] | None, fmap: FamilyMap,
                params: DeviceParams) -> dict[str, float | str]:
    """Cost of switching the family's weights in for this sub-net after the next narrower one
    (copies: :func:`copy_write_cost`).

    Non-volatile cells keep gated weights: nothing is rewritten. Volatile cells either stayed
    powered (nothing rewritten, paid as leakage) or were gated and lost their weights: then the
    weight rows of the sub-arrays this sub-net adds are written again.
    """
    if params.cell.nonvolatile:
        return {"switch_policy": "nonvolatile: gated weights kept", "switch_write_bits": 0,
                "switch_energy_pj": 0.0}
    if fmap.mapping.policy.volatile_unused == "keep-powered":
        return {"switch_policy": "volatile: unused sub-arrays kept powered",
                "switch_write_bits": 0, "switch_energy_pj": 0.0}
    bits, energy = _added_weights(layers, narrower, fmap, params)
    return {"switch_policy": "volatile: gated weights reloaded", "switch_write_bits": bits,
            "switch_energy_pj": energy}
