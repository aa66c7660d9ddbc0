"""Dynamic channel gating on the chip (DA3's attention used as a gate at inference).

A gated channel of a block's first convolution is neither computed nor read: the layer runs
with its active output channels only and the next layer (the block's second convolution) with
as many input channels, so their sub-arrays holding the gated channels do no compute events.
SOT-MRAM cells are nonvolatile: a gated sub-array keeps its weights (no rewrite) and, under the
mapping's layer gating (``policy.gate_layers``), leaks nothing. A domain is costed at its mean
active channel count per layer, rounded up (the channel count a typical image runs), as the
narrower member of a two-sub-net family whose wider member is the ungated backbone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import pandas as pd

from pimsim.adapt import AdaptResult
from pimsim.device import DeviceParams
from pimsim.errors import PimsimError
from pimsim.mapper import ChipMapping, GemmLayer
from pimsim.simulate.costs import family_costs


def gated_layers(layers: list[GemmLayer], active: Mapping[str, float]) -> list[GemmLayer]:
    """``layers`` with each gated layer ``name`` (``active[name]``: its mean active output
    channels) narrowed to ``ceil(active)`` outputs and the layer after it to as many inputs."""
    out = list(layers)
    index = {layer.name: i for i, layer in enumerate(layers)}
    for name, mean in active.items():
        if name not in index or index[name] + 1 >= len(layers):
            raise PimsimError(f"gating: {name!r} is not a gated layer of this network")
        i = index[name]
        layer, after = out[i], out[i + 1]
        if after.c_in != layer.c_out or layer.groups != 1 or after.groups != 1:
            raise PimsimError(f"gating: {after.name!r} does not read {name!r}'s channels")
        if not 0 <= mean <= layer.c_out:
            raise PimsimError(f"gating: {name!r}: {mean} active channels of {layer.c_out}")
        k = max(1, math.ceil(mean - 1e-9))  # a layer runs at least one channel
        out[i] = dataclasses.replace(layer, c_out=k)
        out[i + 1] = dataclasses.replace(after, c_in=k)
    return out


def gating_costs(layers: list[GemmLayer], active: Mapping[str, Mapping[str, float]],
                 params: DeviceParams, mapping: ChipMapping) -> pd.DataFrame:
    """Per domain: the backbone's energy and latency per image ungated and gated, and what
    gating saves (``energy_pj``, ``energy_gated_pj``, ``energy_saved_pj``, ``latency_ns``,
    ``latency_gated_ns``, ``latency_saved_ns``, ``technology``)."""
    rows = []
    for domain, per_layer in active.items():
        subnets, _ = family_costs({"ungated": layers, "gated": gated_layers(layers, per_layer)},
                                  params, mapping)
        by = subnets.set_index("subnet")
        full, gated = by.loc["ungated"], by.loc["gated"]
        rows.append({"domain": domain, "technology": full["technology"],
                     "energy_pj": full["energy_pj"], "energy_gated_pj": gated["energy_pj"],
                     "energy_saved_pj": full["energy_pj"] - gated["energy_pj"],
                     "latency_ns": full["latency_ns"], "latency_gated_ns": gated["latency_ns"],
                     "latency_saved_ns": full["latency_ns"] - gated["latency_ns"]})
    return pd.DataFrame(rows)


def cost_adapted(result: AdaptResult, device_params: str = "sot_mram_45nm",
                 mapping: str = "default", bits: int = 8) -> pd.DataFrame:
    """``result.table`` with the gating columns of :func:`gating_costs` on DA3's rows (the
    backbone at ``bits`` on the given device and mapping); other rows leave them empty."""
    from pimsim.simulate.hardware import resolve_hardware
    from pimsim.simulate.layers import layers_from_module

    table = result.table
    if not result.active_channels:
        return table
    params, chip_mapping = resolve_hardware(device_params, mapping)
    layers = layers_from_module(result.backbone, result.input_shape, bits)
    costs = gating_costs(layers, result.active_channels, params, chip_mapping)
    costs.insert(1, "method", "da3")
    return table.merge(costs, on=["domain", "method"], how="left")


def adapted_gating(checkpoint: str, adapted_dir: str, bits: int, params: DeviceParams,
                   mapping: ChipMapping) -> pd.DataFrame:
    """``gating.csv`` of ``pimsim simulate --adapted DIR``: for each DA3 model ``pimsim adapt``
    saved (``DIR/models/DOMAIN/da3.pt``, adapted from ``checkpoint``: its SHA-256 must match),
    the :func:`gating_costs` of its sub-net of ``checkpoint`` at ``bits`` with the domain's
    measured gating, and the adapted model's ``top1_float`` (ungated) and
    ``top1_float_gated``."""
    from pathlib import Path

    from pimsim.adapt.run import load_backbone
    from pimsim.adapt.saved import MODELS_DIR, load_adapted
    from pimsim.io import file_sha256
    from pimsim.simulate.layers import layers_from_module

    paths = sorted(Path(adapted_dir, MODELS_DIR).glob("*/da3.pt"))
    if not paths:
        raise PimsimError(f"--adapted: {adapted_dir}: no {MODELS_DIR}/DOMAIN/da3.pt (write "
                          "them with pimsim adapt --method da3)")
    sha = file_sha256(checkpoint)
    tables, layers_of = [], {}  # each sub-net's layers, from one load of the checkpoint
    for path in paths:
        _, rec = load_adapted(path)
        if rec["source_sha256"] != sha:
            raise PimsimError(f"{path}: source_sha256: adapted from another checkpoint than "
                              f"{checkpoint} ({rec['source_sha256'][:12]}, not {sha[:12]})")
        if rec["subnet"] not in layers_of:
            backbone, subnet, _ = load_backbone(checkpoint, rec["subnet"])
            layers_of[rec["subnet"]] = (subnet, layers_from_module(
                backbone, (rec["in_channels"], *rec["input_hw"]), bits))
        subnet, layers = layers_of[rec["subnet"]]
        costs = gating_costs(layers, {rec["domain"]: rec["active_channels"]}, params, mapping)
        channels = sum(layer.c_out for layer in layers if layer.name in rec["active_channels"])
        costs.insert(1, "subnet", subnet)
        costs["top1_float"] = rec["top1_float"]
        costs["top1_float_gated"] = rec["top1_float_gated"]
        costs["active_channel_fraction"] = (sum(rec["active_channels"].values()) / channels
                                            if channels else None)
        tables.append(costs)
    return pd.concat(tables, ignore_index=True)
