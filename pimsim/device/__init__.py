"""Device model: cited parameters of each technology (SOT-MRAM by default), sense margins and
feasibility, computational sub-array, bit-serial kernels and their counted and closed-form
events."""

from pimsim.device.bitserial import (
    bitserial_conv2d,
    bitserial_linear,
    conv2d_int64,
    reference_conv2d,
    reference_linear,
)
from pimsim.device.events import Cost, EventCounts, cost
from pimsim.device.feasibility import check_feasible
from pimsim.device.footprint import subarray_area_um2, subarray_leakage_uw
from pimsim.device.layer_events import (
    Tiling,
    conv2d_events,
    gemm_events,
    linear_events,
    weight_load_events,
)
from pimsim.device.margins import check_margin, op_margins
from pimsim.device.params import (
    DeviceParams,
    list_presets,
    load_device_params,
    parse_device_params,
    with_overrides,
)
from pimsim.device.physics import DerivedCosts
from pimsim.device.subarray import SubArray
from pimsim.device.technologies import (
    Technology,
    get_technology,
    known_technologies,
    register_technology,
)
from pimsim.device.technologies.mtj import mtj_margins, sense_levels_ohm

__all__ = [
    "Cost",
    "SubArray",
    "Technology",
    "Tiling",
    "bitserial_conv2d",
    "bitserial_linear",
    "conv2d_events",
    "conv2d_int64",
    "gemm_events",
    "linear_events",
    "reference_conv2d",
    "reference_linear",
    "weight_load_events",
    "DerivedCosts",
    "DeviceParams",
    "EventCounts",
    "check_feasible",
    "check_margin",
    "cost",
    "get_technology",
    "known_technologies",
    "list_presets",
    "load_device_params",
    "mtj_margins",
    "op_margins",
    "parse_device_params",
    "register_technology",
    "sense_levels_ohm",
    "subarray_area_um2",
    "subarray_leakage_uw",
    "with_overrides",
]
