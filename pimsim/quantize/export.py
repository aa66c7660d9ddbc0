"""Integer export: layer groups + float weights + activation scales -> ``IntGraph``.

Conv/linear: ``q_w = round(w / s_w)`` per output channel (as the fake quantizer does); a
following BatchNorm ``y = g * (z - mu) / sqrt(var + eps) + beta`` is folded as the per-channel
factor ``c = g / sqrt(var + eps)``: ``q_w' = sign(c) * q_w``, ``s_w' = |c| * s_w``,
``bias' = c * (bias - mu) + beta`` (Jacob et al., CVPR 2018, Sec. 3.2). The bias is stored at the
accumulator scale ``s_in * s_w'`` (``floor(bias' / (s_in * s_w') + 1/2)``) and the output
multiplier ``s_in * s_w' / s_out`` as ``(M, shift)``. Additions align both inputs to the output
scale with one shift: ``M_i = floor(s_i / s_out * 2**shift + 1/2)``. Average pools keep their
input's scale and multiply by ``1 / n``. Max pool, ReLU and flatten keep scale and bits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from pimsim.errors import PimsimError
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.quantize.fake_quant import bn_fold, folded_weight_scale, quantize_weight
from pimsim.quantize.intgraph import IntGraph, IntLayer
from pimsim.quantize.qat import QuantizedBody
from pimsim.quantize.requant import add_multipliers, quantize_multiplier
from pimsim.quantize.trace import Group, find_groups, trace

ActParams = dict[str, tuple[float, bool]]


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _weighted(group: Group, modules: dict[str, nn.Module], src: IntLayer, out_scale: float,
              bits: int) -> dict:
    """Integer weights, bias, multiplier and shift of a conv(+BN) or linear group."""
    layer = modules[group.modules.get("conv") or group.modules["linear"]]
    weight = layer.weight.detach().double()
    q, s_w = quantize_weight(weight, bits)
    bn = modules[group.modules["bn"]] if "bn" in group.modules else None
    factor, bias = bn_fold(len(q), layer.bias, bn, weight)
    s_w = folded_weight_scale(s_w, factor)
    q = (q * torch.sign(factor).view((-1,) + (1,) * (q.dim() - 1))).numpy()
    acc_scale = src.out_scale * s_w.numpy()
    mult, shift = quantize_multiplier(acc_scale / out_scale)
    dtype = np.int8 if bits <= 8 else np.int16
    return {"weight": q.astype(dtype), "weight_scale": s_w.numpy(), "weight_bits": bits,
            "bias": np.floor(bias.numpy() / acc_scale + 0.5).astype(np.int64),
            "multiplier": mult, "shift": shift}


def build_int_graph(groups: list[Group], output: str, modules: dict[str, nn.Module],
                    params: ActParams, bits: int, input_shape: tuple[int, ...],
                    name: str) -> IntGraph:
    """The ``IntGraph`` of traced ``groups`` given every scale-defining layer's
    ``(scale, signed)`` in ``params`` and the float layers in ``modules``."""
    layers: dict[str, IntLayer] = {}
    for group in groups:
        srcs = [layers[i] for i in group.inputs]
        first = srcs[0] if srcs else None
        kw: dict = {"modules": tuple(group.modules.values())}
        if group.op in ("input", "conv", "linear", "add"):
            if group.name not in params:
                raise PimsimError(f"{name}: layer {group.name!r}: no activation scale")
            out_scale, out_signed = params[group.name]
            out_bits = bits
        else:
            out_scale, out_bits = first.out_scale, first.out_bits
            out_signed = first.out_signed and group.op != "relu"
        in_shape = first.out_shape if first else tuple(input_shape)
        if group.op == "input":
            out_shape = tuple(input_shape)
        elif group.op == "conv":
            conv = modules[group.modules["conv"]]
            k, s, p = _pair(conv.kernel_size), _pair(conv.stride), _pair(conv.padding)
            if in_shape[0] != conv.in_channels:
                raise PimsimError(f"{name}: layer {group.name!r}: expects {conv.in_channels} "
                                  f"input channels, gets {in_shape[0]}")
            out_shape = (conv.out_channels, *(_conv_out(in_shape[d + 1], k[d], s[d], p[d])
                                              for d in range(2)))
            kw.update(kernel=k, stride=s, padding=p)
            kw.update(_weighted(group, modules, first, out_scale, bits))
        elif group.op == "linear":
            fc = modules[group.modules["linear"]]
            if in_shape != (fc.in_features,):
                raise PimsimError(f"{name}: layer {group.name!r}: expects ({fc.in_features},) "
                                  f"inputs, gets {in_shape}")
            out_shape = (fc.out_features,)
            kw.update(_weighted(group, modules, first, out_scale, bits))
        elif group.op == "add":
            if srcs[0].out_shape != srcs[1].out_shape:
                raise PimsimError(f"{name}: layer {group.name!r}: adds shapes "
                                  f"{srcs[0].out_shape} and {srcs[1].out_shape}")
            mult, shift = add_multipliers(np.array([src.out_scale for src in srcs]), out_scale)
            kw.update(multiplier=mult, shift=np.array([shift], dtype=np.int64))
            out_shape = in_shape
        elif group.op in ("maxpool", "avgpool"):
            pool = modules[group.modules[group.op]]
            if isinstance(pool, nn.AdaptiveAvgPool2d):
                k, s, p = in_shape[1:], in_shape[1:], (0, 0)
            else:
                k, s = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
                p = _pair(pool.padding)
            out_shape = (in_shape[0], *(_conv_out(in_shape[d + 1], k[d], s[d], p[d])
                                        for d in range(2)))
            kw.update(kernel=tuple(k), stride=tuple(s), padding=tuple(p))
            if group.op == "avgpool":
                mult, shift = quantize_multiplier(np.array([1.0 / (k[0] * k[1])]))
                kw.update(multiplier=mult, shift=shift)
        elif group.op == "flatten":
            out_shape = (math.prod(in_shape),)
        else:
            out_shape = in_shape
        layers[group.name] = IntLayer(
            name=group.name, op=group.op, inputs=group.inputs, in_shape=tuple(in_shape),
            out_shape=tuple(int(d) for d in out_shape),
            in_bits=first.out_bits if first else 0,
            in_signed=first.out_signed if first else True,
            in_scales=tuple(src.out_scale for src in srcs), out_bits=out_bits,
            out_signed=out_signed, out_scale=float(out_scale), relu=group.relu, **kw)
    return IntGraph(name, bits, tuple(input_shape), list(layers.values()), output)


def export_quantized(body: QuantizedBody, input_shape: tuple[int, ...], name: str = "model",
                     subnet_index: int = 0) -> IntGraph:
    """The ``IntGraph`` of a model made by ``quantize_model`` (a user's plain model) with the
    ranges of sub-net ``subnet_index``."""
    modules = dict(body.named_modules())
    return build_int_graph(body.groups, body.output, modules,
                           body.act_params(subnet_index, name), body.bits, input_shape, name)


def export_subnet_int(model: DynamicNet, subnet: SubnetSpec | str,
                      input_hw: tuple[int, int]) -> IntGraph:
    """The ``IntGraph`` of one sub-net of a quantized ``DynamicNet`` (``prepare_qat`` +
    training or calibration): its plain float export, traced, with that sub-net's scales."""
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
    return graph
