"""Bit-exact inference of an integer graph on the simulated sub-arrays.

The integer graph's own walk (:meth:`pimsim.quantize.IntGraph.run_all`) with every weight
layer's accumulator from the bit-serial kernel (:func:`pimsim.device.bitserial_conv2d`: AND by
multi-row sensing, bit-count, shift-add over bit-planes, with the chip's sub-array geometry and
the device's sense-margin check; a grouped convolution is one kernel call per group); bias,
requantization, additions, pooling and ReLU (the CMOS periphery) are the integer executor's
own. So the result must equal :meth:`pimsim.quantize.IntGraph.run_int` exactly; the events are
returned per layer (summed over its groups) and must equal the closed form
(:func:`check_events`).
"""

from __future__ import annotations

import numpy as np

from pimsim.device import DeviceParams, EventCounts, bitserial_conv2d
from pimsim.device.faults import FaultInjector
from pimsim.errors import PimsimError
from pimsim.mapper import GemmLayer
from pimsim.quantize import IntGraph, IntLayer


class PimAccumulator:
    """A :data:`pimsim.quantize.execute.Accumulate` that runs the bit-serial kernel on
    ``rows x cols`` sub-arrays and adds each call's events to ``events[layer name]``."""

    def __init__(self, rows: int, cols: int, params: DeviceParams | None,
                 faults: FaultInjector | None = None) -> None:
        self.rows, self.cols, self.params, self.faults = rows, cols, params, faults
        self.events: dict[str, EventCounts] = {}

    def __call__(self, layer: IntLayer, x: np.ndarray, w: np.ndarray, stride: tuple[int, int],
                 padding: tuple[int, int]) -> np.ndarray:
        (sh, sw), (ph, pw) = stride, padding
        if sh != sw or ph != pw:
            raise PimsimError(f"{layer.name}: non-square stride or padding is not simulated")
        out, events = bitserial_conv2d(
            x, w, stride=sh, padding=ph, x_bits=layer.in_bits, w_bits=layer.weight_bits,
            x_signed=layer.in_signed, w_signed=True, rows=self.rows, cols=self.cols,
            params=self.params, faults=self.faults)
        seen = self.events.get(layer.name)
        self.events[layer.name] = events if seen is None else seen + events
        return out.swapaxes(0, 1)


def run_pim(graph: IntGraph, x_int: np.ndarray, rows: int, cols: int,
            params: DeviceParams | None = None) -> tuple[np.ndarray, dict[str, EventCounts]]:
    """Integer output of ``graph`` on a quantized batch, and each weight layer's events."""
    accumulate = PimAccumulator(rows, cols, params)
    values = graph.run_all(x_int, accumulate)
    return values[graph.output], accumulate.events


def check_events(graph: IntGraph, layers: list[GemmLayer], events: dict[str, EventCounts],
                 images: int, rows: int, cols: int) -> None:
    """The kernel's counted events must equal the closed form the cost model uses
    (``layers``: :func:`pimsim.simulate.layers_from_graph` of ``graph``)."""
    for int_layer, layer in zip(graph.compute_layers(), layers, strict=True):
        if events[int_layer.name] != layer.events(rows, cols, images):
            raise RuntimeError(f"{layer.name}: counted events differ from the closed form "
                               "(a pimsim bug; please report it)")
