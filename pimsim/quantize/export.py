"""Integer export: layer groups + float weights + activation scales -> ``IntGraph``.

Each group's output shape and integer fields come from its op's registry entry
(:meth:`pimsim.quantize.ops.LayerOp.build`: weight folding, requantization multipliers, pool
windows); scale-defining layers take their calibrated ``(scale, signed)``, every other layer
keeps its input's scale and bits (a ReLU makes it unsigned).
"""

from __future__ import annotations

from torch import nn

from pimsim.data import Preprocessing
from pimsim.errors import PimsimError
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.quantize.intgraph import IntGraph
from pimsim.quantize.layer import Group, IntLayer
from pimsim.quantize.ops import OPS
from pimsim.quantize.qat import QuantizedBody
from pimsim.quantize.trace import find_groups, trace

ActParams = dict[str, tuple[float, bool]]


def build_int_graph(groups: list[Group], output: str, modules: dict[str, nn.Module],
                    params: ActParams, bits: int, input_shape: tuple[int, ...],
                    name: str) -> IntGraph:
    """The ``IntGraph`` of traced ``groups`` given every scale-defining layer's
    ``(scale, signed)`` in ``params`` and the float layers in ``modules``."""
    layers: dict[str, IntLayer] = {}
    for group in groups:
        op = OPS[group.op]
        srcs = [layers[i] for i in group.inputs]
        first = srcs[0] if srcs else None
        if op.defines_scale:
            if group.name not in params:
                raise PimsimError(f"{name}: layer {group.name!r}: no activation scale")
            out_scale, out_signed = params[group.name]
            out_bits = bits
        else:
            out_scale, out_bits = first.out_scale, first.out_bits
            out_signed = first.out_signed and not op.clears_sign
        in_shape = first.out_shape if first else tuple(input_shape)
        mods = {role: modules[target] for role, target in group.modules.items()}
        out_shape, kw = op.build(mods, srcs, in_shape, out_scale, bits,
                                 f"{name}: layer {group.name!r}")
        layers[group.name] = IntLayer(
            name=group.name, op=group.op, inputs=group.inputs, in_shape=tuple(in_shape),
            out_shape=tuple(int(d) for d in out_shape),
            in_bits=first.out_bits if first else 0,
            in_signed=first.out_signed if first else True,
            in_scales=tuple(src.out_scale for src in srcs), out_bits=out_bits,
            out_signed=out_signed, out_scale=float(out_scale), relu=group.relu,
            modules=tuple(group.modules.values()), **kw)
    return IntGraph(name, bits, tuple(input_shape), list(layers.values()), output)


def export_quantized(body: QuantizedBody, input_shape: tuple[int, ...], name: str = "model",
                     subnet_index: int = 0,
                     preprocessing: Preprocessing | None = None) -> IntGraph:
    """The ``IntGraph`` of a model made by ``quantize_model`` (a user's plain model) with the
    ranges of sub-net ``subnet_index``; ``preprocessing``: how its input images are made
    (stored in the export)."""
    modules = dict(body.named_modules())
    graph = build_int_graph(body.groups, body.output, modules,
                            body.act_params(subnet_index, name), body.bits, input_shape, name)
    graph.preprocessing = preprocessing.to_dict() if preprocessing else None
    return graph


def export_subnet_int(model: DynamicNet, subnet: SubnetSpec | str,
                      input_hw: tuple[int, int],
                      preprocessing: Preprocessing | None = None) -> IntGraph:
    """The ``IntGraph`` of one sub-net of a quantized ``DynamicNet`` (``prepare_qat`` +
    training or calibration): its plain float export, traced, with that sub-net's scales
    (``preprocessing``: how its input images are made, stored in the export)."""
    if not isinstance(model.body, QuantizedBody):
        raise PimsimError(f"{model.arch}: not quantized; train with --bits or calibrate first")
    index = model.index_of(subnet)
    spec = model.subnets[index]
    name = f"{model.arch}-{spec.name}"
    plain = model.export_subnet(spec).eval()
    modules = dict(plain.named_modules())
    groups, output = find_groups(trace(plain, where=name), modules, name)
    graph = build_int_graph(groups, output, modules, model.body.act_params(index, name),
                            model.body.bits, (model.in_channels, *input_hw), name)
    graph.meta.update(arch=model.arch, subnet=spec.to_dict())
    graph.preprocessing = preprocessing.to_dict() if preprocessing else None
    return graph
