"""Mapper: chip organisation, nested sub-array allocation of a sub-net family, and its costs."""

from pimsim.mapper.allocate import FamilyMap, GemmLayer, Placement, map_family
from pimsim.mapper.chip import ChipMapping, load_mapping, mapping_with_overrides
from pimsim.mapper.cost import layer_costs, subnet_totals, switch_cost

__all__ = ["ChipMapping", "FamilyMap", "GemmLayer", "Placement", "layer_costs", "load_mapping",
           "map_family", "mapping_with_overrides", "subnet_totals", "switch_cost"]
