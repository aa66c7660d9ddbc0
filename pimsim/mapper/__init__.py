"""Mapper: chip organisation, nested sub-array allocation of a sub-net family, and its costs."""

from pimsim.mapper.allocate import FamilyMap, GemmLayer, Placement, duplicate, map_family
from pimsim.mapper.chip import ChipMapping, load_mapping, mapping_with_overrides
from pimsim.mapper.cost import (
    chip_area_mm2,
    copy_write_cost,
    layer_costs,
    step_ns,
    subnet_totals,
    switch_cost,
)

__all__ = ["ChipMapping", "FamilyMap", "GemmLayer", "Placement", "chip_area_mm2",
           "copy_write_cost", "duplicate", "layer_costs", "load_mapping", "map_family",
           "mapping_with_overrides", "step_ns", "subnet_totals", "switch_cost"]
