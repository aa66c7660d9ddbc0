"""The mapper's view of a network: its weight layers as :class:`GemmLayer` s.

From an exported integer graph (exact bits and shapes), or, for cost-only work, from a dynamic
model's per-sub-net channel counts or any plain float model with Conv2d/Linear layers (one
forward pass of a zero image records the resolutions).
"""

from __future__ import annotations

from torch import nn

from pimsim.errors import PimsimError
from pimsim.mapper import GemmLayer
from pimsim.network import DynamicNet
from pimsim.network.counting import resolutions
from pimsim.network.ops import SlimConv2d, SlimLinear
from pimsim.quantize import IntGraph


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def layers_from_graph(graph: IntGraph) -> list[GemmLayer]:
    """Weight layers of an integer graph, with their real activation and weight bits, named
    by their convolution/linear module (as in :func:`layers_of_subnets`)."""
    out = []
    for layer in graph.compute_layers():
        w = layer.weight
        if layer.op == "conv":
            kernel, stride, padding = layer.kernel, layer.stride, layer.padding
            in_hw, out_hw = tuple(layer.in_shape[1:3]), tuple(layer.out_shape[1:3])
        else:
            kernel, stride, padding, in_hw, out_hw = (1, 1), (1, 1), (0, 0), (1, 1), (1, 1)
        name = layer.modules[0] if layer.modules else layer.name
        out.append(GemmLayer(name, layer.op, int(w.shape[1]), int(w.shape[0]), kernel,
                             stride, padding, in_hw, out_hw, layer.in_bits, layer.weight_bits,
                             layer.out_bits))
    return out


def layers_of_subnets(model: DynamicNet, input_hw: tuple[int, int],
                      bits: int) -> dict[str, list[GemmLayer]]:
    """Weight layers of every registered sub-net of a dynamic model at ``bits``.

    Channel counts come from each layer's per-sub-net sizes; resolutions from one forward pass
    of a zero image through the smallest sub-net (resolutions do not depend on width).
    """
    active = model.active
    model.set_subnet(min(model.subnets, key=lambda s: sum(model.counts(s))))
    try:
        spatial = resolutions(model.body, (model.in_channels, *input_hw), (SlimConv2d, SlimLinear))
    finally:
        model.set_subnet(active)
    family = {}
    for idx, spec in enumerate(model.subnets):
        layers = []
        for name, m in model.masked_layers().items():
            cin, cout = m.sizes[idx]
            layers.append(_gemm(name, m, cin, cout, *spatial[name], bits))
        family[spec.name] = layers
    return family


def layers_from_module(model: nn.Module, input_shape: tuple[int, int, int],
                       bits: int) -> list[GemmLayer]:
    """Weight layers (every Conv2d with groups = 1, every Linear) of a plain model at ``bits``,
    named by module name; one forward pass of a zero image records the resolutions."""
    spatial = resolutions(model, input_shape, (nn.Conv2d, nn.Linear))
    layers = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            cin, cout = (m.in_channels, m.out_channels) if isinstance(m, nn.Conv2d) \
                else (m.in_features, m.out_features)
            layers.append(_gemm(name, m, cin, cout, *spatial[name], bits))
    return layers


def _gemm(name: str, m: nn.Module, cin: int, cout: int, in_hw: tuple[int, int],
          out_hw: tuple[int, int], bits: int) -> GemmLayer:
    if isinstance(m, nn.Conv2d):
        if m.groups != 1:
            raise PimsimError(f"{name}: grouped convolutions are not supported")
        return GemmLayer(name, "conv", cin, cout, _pair(m.kernel_size), _pair(m.stride),
                         _pair(m.padding), in_hw, out_hw, bits, bits, bits)
    return GemmLayer(name, "linear", cin, cout, (1, 1), (1, 1), (0, 0), (1, 1), (1, 1),
                     bits, bits, bits)
