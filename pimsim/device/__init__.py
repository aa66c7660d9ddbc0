"""SOT-MRAM device model: cited parameters, sense margins, computational sub-array, bit-serial
kernels and their counted and closed-form events."""

from pimsim.device.events import Cost, EventCounts, cost
from pimsim.device.margins import check_margin, mtj_margins, op_margins, sense_levels_ohm
from pimsim.device.params import (
    DeviceParams,
    list_presets,
    load_device_params,
    parse_device_params,
    with_overrides,
)
from pimsim.device.physics import DerivedCosts, subarray_area_um2, subarray_leakage_uw

__all__ = [
    "Cost",
    "DerivedCosts",
    "DeviceParams",
    "EventCounts",
    "check_margin",
    "cost",
    "list_presets",
    "load_device_params",
    "mtj_margins",
    "op_margins",
    "parse_device_params",
    "sense_levels_ohm",
    "subarray_area_um2",
    "subarray_leakage_uw",
    "with_overrides",
]
