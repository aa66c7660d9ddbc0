"""Dynamic networks: width-sliceable layers, model families, sub-net specs, reordering, counts."""

from pimsim.network.counting import MacModel, layer_table, subnet_table, subnet_totals
from pimsim.network.dynamic import DynamicNet
from pimsim.network.reorder import channel_importance, l1_filter_score, reorder_by_importance
from pimsim.network.resnet import ARCHS
from pimsim.network.spec import SubnetSpec, load_specs, parse_widths, save_specs

__all__ = ["ARCHS", "DynamicNet", "MacModel", "SubnetSpec", "channel_importance", "l1_filter_score",
           "layer_table", "load_specs", "parse_widths", "reorder_by_importance", "save_specs",
           "subnet_table", "subnet_totals"]
