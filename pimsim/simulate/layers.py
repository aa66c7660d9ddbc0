"""The mapper's view of a network: its weight layers as :class:`GemmLayer` s.

From an exported integer graph (exact bits and shapes), or, for cost-only work, from a dynamic
model's per-sub-net channel counts or any plain float model with Conv2d (any ``groups``) and
Linear layers (one forward pass of a zero image records the resolutions). Each layer's GEMM
decomposition is its op's (:meth:`pimsim.quantize.ops.LayerOp.gemm` / ``module_gemm``).
"""

from __future__ import annotations

from torch import nn

from pimsim.mapper import GemmLayer
from pimsim.network import DynamicNet
from pimsim.network.counting import resolutions
from pimsim.network.ops import SlimConv2d, SlimLinear
from pimsim.quantize import OPS, IntGraph
from pimsim.quantize.ops import LayerOp, recognise_module


def layers_from_graph(graph: IntGraph) -> list[GemmLayer]:
    """Weight layers of an integer graph, with their real activation and weight bits, named
    by their convolution/linear module (as in :func:`layers_of_subnets`)."""
    out = []
    for layer in graph.compute_layers():
        name = layer.modules[0] if layer.modules else layer.name
        out.append(GemmLayer.from_gemm(name, layer.op, OPS[layer.op].gemm(layer), layer.in_bits,
                                       layer.weight_bits, layer.out_bits))
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
            layers.append(_gemm(name, _weight_op(m), m, cin, cout, *spatial[name], bits))
        family[spec.name] = layers
    return family


def layers_from_module(model: nn.Module, input_shape: tuple[int, int, int],
                       bits: int) -> list[GemmLayer]:
    """Weight layers (every Conv2d, any ``groups``, and every Linear) of a plain model at
    ``bits``, named by module name; one forward pass of a zero image records the resolutions."""
    kinds = tuple(t for op in OPS.values() if op.has_weights for t in op.modules)
    spatial = resolutions(model, input_shape, kinds)
    layers = []
    for name, m in model.named_modules():
        op = _weight_op(m)
        if op is not None:
            layers.append(_gemm(name, op, m, *op.module_channels(m), *spatial[name], bits))
    return layers


def _weight_op(m: nn.Module) -> LayerOp | None:
    op = recognise_module(m)
    return op if op is not None and op.has_weights else None


def _gemm(name: str, op: LayerOp, m: nn.Module, cin: int, cout: int, in_hw: tuple[int, int],
          out_hw: tuple[int, int], bits: int) -> GemmLayer:
    gemm = op.module_gemm(m, cin, cout, in_hw, out_hw, name)
    return GemmLayer.from_gemm(name, op.name, gemm, bits, bits, bits)
