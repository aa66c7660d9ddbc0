"""Costs of a whole sub-net family on one device and one chip mapping."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pimsim.device import DeviceParams, check_feasible
from pimsim.mapper import (
    ChipMapping,
    GemmLayer,
    copy_write_cost,
    layer_costs,
    map_family,
    subnet_totals,
    switch_cost,
)


def family_costs(family: Mapping[str, list[GemmLayer]], params: DeviceParams,
                 mapping: ChipMapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(subnets, layers)``: one row per sub-net (totals, switching cost from the next
    narrower sub-net, writing its weight copies) and one row per layer per sub-net, narrowest
    sub-net first. The device is priced on the chip's sub-arrays (its bit lines are
    ``chip.rows`` long); a device that cannot sense the mapping's operations is refused
    (:func:`check_feasible`)."""
    check_feasible(params, mapping.sense_ops)
    params = params.on_subarrays(mapping.chip.rows, mapping.chip.cols)
    fmap = map_family(family, mapping)
    order = sorted(family, key=lambda n: sum(layer.macs for layer in family[n]))
    rows, tables, narrower = [], [], None
    for name in order:
        layers = family[name]
        table = layer_costs(layers, fmap, params)
        rows.append({"subnet": name, "bits": layers[0].w_bits, "technology": params.name,
                     "memory_type": params.technology, "mapping": mapping.name,
                     **subnet_totals(table, layers, fmap, params),
                     **switch_cost(layers, narrower, fmap, params),
                     **copy_write_cost(layers, narrower, fmap, params)})
        table.insert(0, "subnet", name)
        tables.append(table)
        narrower = layers
    return pd.DataFrame(rows), pd.concat(tables, ignore_index=True)
