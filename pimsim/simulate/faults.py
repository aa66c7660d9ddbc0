"""Accuracy of each sub-net on an imperfect chip: bit-exact PIM inference with injected faults.

One trial runs a sub-net's integer graph on the test images through the bit-serial kernel with a
:class:`~pimsim.device.faults.FaultInjector` (one chip: its stuck cells, its sense and write
errors, seeded) and reports top-1 (``top1_pim``) and the layer-output error rate: the fraction of
weight-layer outputs (accumulators) the sense and write errors changed, against the fault-free
result of the same layer input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimsim.device import DeviceParams
from pimsim.device.faults import FaultInjector
from pimsim.device.variation import FaultRates
from pimsim.mapper import GemmLayer
from pimsim.quantize import IntGraph
from pimsim.simulate.pim_execute import PimAccumulator


@dataclass(frozen=True)
class SubnetCase:
    """A sub-net ready for fault trials: its integer graph, quantized test images and labels,
    its weight layers (for costs) and its fault-free integer top-1."""

    name: str
    graph: IntGraph
    x_int: np.ndarray
    labels: np.ndarray
    layers: tuple[GemmLayer, ...]
    top1_int: float


@dataclass(frozen=True)
class TrialResult:
    """One trial: top-1 of the faulty PIM inference, the changed fraction of layer outputs, and
    the measured sensed-bit flip rate."""

    top1_pim: float
    layer_error_rate: float
    sense_flip_rate: float


def subnet_cases(checkpoint: str, bits: int | None, data_dir: str | None, calib_batches: int,
                 limit: int | None, subnets: list[str] | None) -> list[SubnetCase]:
    """The checkpoint's sub-nets (``subnets``: names, default all) at ``bits`` on the first
    ``limit`` test images."""
    from pimsim.quantize import export_subnet_int
    from pimsim.simulate.layers import layers_from_graph
    from pimsim.simulate.quantized import load_quantized

    model, data, _ = load_quantized(checkpoint, bits, data_dir, calib_batches)
    specs = (model.subnets if not subnets or subnets == ["all"]
             else [model.subnets[model.index_of(n)] for n in subnets])
    n = data.test_count(limit)
    images, labels = data.test_x[:n].numpy(), data.test_y[:n].numpy()
    cases = []
    for spec in specs:
        graph = export_subnet_int(model, spec, data.image_hw)
        x = graph.quantize_input(images)
        top1 = float((graph.run_int(x).argmax(1) == labels).mean())
        cases.append(SubnetCase(spec.name, graph, x, labels,
                                tuple(layers_from_graph(graph)), top1))
    return cases


def run_trial(case: SubnetCase, rates: FaultRates, seed: int, rows: int, cols: int,
              params: DeviceParams | None = None) -> TrialResult:
    """One faulty bit-exact inference of ``case`` on ``rows x cols`` sub-arrays."""
    injector = FaultInjector(rates, seed)
    accumulate = PimAccumulator(rows, cols, params, faults=injector)
    out = case.graph.run_all(case.x_int, accumulate)[case.graph.output]
    return TrialResult(
        top1_pim=float((out.argmax(1) == case.labels).mean()),
        layer_error_rate=injector.outputs_changed / max(injector.outputs, 1),
        sense_flip_rate=injector.sense_flips / max(injector.sensed_bits, 1),
    )
