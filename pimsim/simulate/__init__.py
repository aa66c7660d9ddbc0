"""Simulation of a sub-net family on the chip: PIM inference, costs, reports."""

from pimsim.simulate.costs import family_costs
from pimsim.simulate.hardware import resolve_hardware
from pimsim.simulate.layers import layers_from_graph, layers_from_module, layers_of_subnets
from pimsim.simulate.pim_execute import run_pim
from pimsim.simulate.run import (
    SimulateConfig,
    Simulation,
    cost_only_family,
    simulate,
    write_simulation,
)

__all__ = ["SimulateConfig", "Simulation", "cost_only_family", "family_costs",
           "layers_from_graph", "layers_from_module", "layers_of_subnets", "resolve_hardware",
           "run_pim", "simulate", "write_simulation"]
