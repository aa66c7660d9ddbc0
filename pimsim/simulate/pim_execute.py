"""Bit-exact inference of an integer graph on the simulated sub-arrays.

Every conv and linear layer's accumulator comes from the bit-serial kernel
(:func:`pimsim.device.bitserial_conv2d` / :func:`~pimsim.device.bitserial_linear`: AND by
multi-row sensing, bit-count, shift-add over bit-planes, with the chip's sub-array geometry and
the device's sense-margin check); bias, requantization, additions, pooling and ReLU (the CMOS
periphery) are the integer executor's own. So the result must equal
:meth:`pimsim.quantize.IntGraph.run_int` exactly; the events are returned per layer.
"""

from __future__ import annotations

import numpy as np

from pimsim.device import DeviceParams, EventCounts, bitserial_conv2d, bitserial_linear
from pimsim.errors import PimsimError
from pimsim.quantize import IntGraph, IntLayer, execute
from pimsim.quantize.requant import qrange, requantize_channels


def _accumulate(layer: IntLayer, x: np.ndarray, rows: int, cols: int,
                params: DeviceParams | None) -> tuple[np.ndarray, EventCounts]:
    """The int64 accumulator ``x * W`` of a conv (N, C_out, H', W') or linear (N, C_out)."""
    kw = {"x_bits": layer.in_bits, "w_bits": layer.weight_bits, "x_signed": layer.in_signed,
          "w_signed": True, "rows": rows, "cols": cols, "params": params}
    if layer.op == "linear":
        return bitserial_linear(x, layer.weight, **kw)
    (sh, sw), (ph, pw) = layer.stride, layer.padding
    if sh != sw or ph != pw:
        raise PimsimError(f"{layer.name}: non-square stride or padding is not simulated")
    return bitserial_conv2d(x, layer.weight, stride=sh, padding=ph, **kw)


def _finish(layer: IntLayer, acc: np.ndarray) -> np.ndarray:
    """Bias, per-channel requantization and clamping (channels on axis 1), in one pass over
    the channel-major accumulator; returns the same axes order."""
    lo, hi = qrange(layer.out_bits, layer.out_signed)
    y = requantize_channels(acc.swapaxes(0, 1), layer.bias, layer.multiplier, layer.shift,
                            lo, hi)
    return y.swapaxes(0, 1)


def run_pim(graph: IntGraph, x_int: np.ndarray, rows: int, cols: int,
            params: DeviceParams | None = None) -> tuple[np.ndarray, dict[str, EventCounts]]:
    """Integer output of ``graph`` on a quantized batch, and each weight layer's events."""
    values: dict[str, np.ndarray] = {graph.input.name: np.asarray(x_int, dtype=np.int64)}
    events: dict[str, EventCounts] = {}
    for layer in graph.layers[1:]:
        args = [values[i] for i in layer.inputs]
        if layer.op in ("conv", "linear"):
            acc, events[layer.name] = _accumulate(layer, args[0], rows, cols, params)
            values[layer.name] = _finish(layer, acc)
        else:
            values[layer.name] = execute.OPS[layer.op](layer, *args)
    return values[graph.output], events
