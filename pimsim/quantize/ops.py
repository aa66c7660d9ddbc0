"""The layer-op registry: every op kind of the integer graph, each in one place.

An op (a :class:`LayerOp` in :data:`OPS`) owns: how the tracer recognises it (module types,
functions, tensor methods) and which variants it refuses (:meth:`LayerOp.check`); its fusions
(BatchNorm, ReLU) and whether it defines a new activation scale; its output shape and integer
fields at export (:meth:`LayerOp.build`); its fake-quantized rewrite (:meth:`LayerOp.fake_quant`);
its integer execution (:meth:`LayerOp.execute`); and, for weight ops, its MACs and GEMM
decomposition for the mapper (:meth:`LayerOp.gemm`, plain :class:`pimsim.geometry.Gemm` data).

Weight export (conv, linear): ``q_w = round(w / s_w)`` per output channel (as the fake quantizer
does); a following BatchNorm ``y = g * (z - mu) / sqrt(var + eps) + beta`` is folded as the
per-channel factor ``c = g / sqrt(var + eps)``: ``q_w' = sign(c) * q_w``, ``s_w' = |c| * s_w``,
``bias' = c * (bias - mu) + beta`` (Jacob et al., CVPR 2018, Sec. 3.2). The bias is stored at the
accumulator scale ``s_in * s_w'`` (``floor(bias' / (s_in * s_w') + 1/2)``) and the output
multiplier ``s_in * s_w' / s_out`` as ``(M, shift)``.

Adding an op: one :class:`LayerOp` subclass registered in :data:`OPS` (and a line in
``FORMAT.md``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from pimsim.errors import PimsimError
from pimsim.geometry import Gemm, check_groups, conv_output_hw, pair
from pimsim.quantize.execute import Accumulate, finish, out_clamp, windows
from pimsim.quantize.fake_quant import (
    ActQuant,
    AddRound,
    GridRound,
    LayerRound,
    bn_fold,
    folded_weight_scale,
    quantize_weight,
)
from pimsim.quantize.layer import Group, IntLayer
from pimsim.quantize.requant import (
    add_multipliers,
    qrange,
    quantize_multiplier,
    requantize,
    requantize_sum,
)

Shape = tuple[int, ...]


@dataclass(frozen=True)
class QatRewrite:
    """How a fake-quantized model computes one op as the integer graph does: ``module``
    (stored as ``quant[key]``) either replaces the fx node ``node`` (same arguments) or, with
    ``replace`` False, takes its output (and, when ``input_of`` names a node, that node's
    first argument as a second one)."""

    node: str
    key: str
    module: nn.Module
    replace: bool
    input_of: str | None = None


class LayerOp:
    """One op kind; subclasses override what differs from these defaults (a shape-, scale-
    and bits-preserving op without weights)."""

    name = ""
    has_weights = False  # holds a weight GEMM (mapped onto sub-arrays)
    defines_scale = False  # its output gets its own activation quantizer
    fuses_bn = False  # absorbs a following BatchNorm2d
    fuses_relu = False  # absorbs a following ReLU (its output clamp starts at 0)
    clears_sign = False  # its output is unsigned
    arity = 1  # tensor inputs
    modules: tuple[type, ...] = ()
    functions: tuple = ()
    methods: tuple[str, ...] = ()

    def recognises(self, node: fx.Node, module: nn.Module | None) -> bool:
        """Whether the fx ``node`` (``module``: its module, for ``call_module``) is this op."""
        if node.op == "call_module":
            return isinstance(module, self.modules)
        if node.op == "call_function":
            return any(node.target is f for f in self.functions)
        return node.op == "call_method" and node.target in self.methods

    def check(self, node: fx.Node, module: nn.Module | None) -> str | None:
        """Why this variant of the op is not supported, or None."""
        return None

    def quant_signed(self, relu: bool) -> bool | None:
        """Sign of a scale-defining output (None: decided by the calibrated range)."""
        return not relu

    def build(self, mods: dict[str, nn.Module], srcs: Sequence[IntLayer], in_shape: Shape,
              out_scale: float, bits: int, where: str) -> tuple[Shape, dict]:
        """Output shape and the op's ``IntLayer`` fields at export (``mods``: role -> module,
        ``srcs``: the input layers, ``where``: ``"<graph>: layer '<name>'"`` for errors)."""
        return in_shape, {}

    def fake_quant(self, group: Group, mods: dict[str, nn.Module],
                   sources: tuple[ActQuant, ...], target: ActQuant | None) -> QatRewrite | None:
        """The rewrite that makes the fake-quantized model exact (``sources``: the inputs'
        quantizers, ``target``: this group's own, if it defines a scale)."""
        return None

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        """The integer output (int64) of ``layer`` on its inputs' integer batches."""
        raise NotImplementedError(self.name)

    def gemm(self, layer: IntLayer) -> Gemm | None:
        """The GEMM decomposition of a weight layer (None: no weights)."""
        return None

    def module_channels(self, module: nn.Module) -> tuple[int, int]:
        """``(C_in, C_out)`` of a float weight module."""
        raise NotImplementedError(self.name)

    def module_gemm(self, module: nn.Module, c_in: int, c_out: int, in_hw: tuple[int, int],
                    out_hw: tuple[int, int], where: str) -> Gemm:
        """The GEMM decomposition of a float weight module using ``c_in -> c_out`` channels
        (``in_hw``/``out_hw``: its resolutions; ``where``: its name, for errors)."""
        raise NotImplementedError(self.name)


class InputOp(LayerOp):
    """The graph input: ``q = clamp(floor(x / out_scale + 1/2))`` of the float image."""

    name = "input"
    defines_scale = True

    def recognises(self, node: fx.Node, module: nn.Module | None) -> bool:
        return node.op == "placeholder"

    def quant_signed(self, relu: bool) -> bool | None:
        return None


def _weighted(layer: nn.Module, bn: nn.Module | None, src: IntLayer, out_scale: float,
              bits: int) -> dict:
    """Integer weights, bias, multiplier and shift of a conv(+BN) or linear layer (see the
    module docstring)."""
    weight = layer.weight.detach().double()
    q, s_w = quantize_weight(weight, bits)
    factor, bias = bn_fold(len(q), layer.bias, bn, weight)
    s_w = folded_weight_scale(s_w, factor)
    q = (q * torch.sign(factor).view((-1,) + (1,) * (q.dim() - 1))).numpy()
    acc_scale = src.out_scale * s_w.numpy()
    mult, shift = quantize_multiplier(acc_scale / out_scale)
    dtype = np.int8 if bits <= 8 else np.int16
    return {"weight": q.astype(dtype), "weight_scale": s_w.numpy(), "weight_bits": bits,
            "bias": np.floor(bias.numpy() / acc_scale + 0.5).astype(np.int64),
            "multiplier": mult, "shift": shift}


class WeightOp(LayerOp):
    """Shared by conv and linear: ``acc = sum(q_in * weight)`` (from the accumulator),
    ``q = clamp(requantize(acc + bias, multiplier[o], shift[o]))`` per output channel ``o``."""

    has_weights = True
    defines_scale = True
    fuses_relu = True

    def fake_quant(self, group: Group, mods: dict[str, nn.Module],
                   sources: tuple[ActQuant, ...], target: ActQuant | None) -> QatRewrite:
        before_relu = group.nodes[-2 if group.relu else -1]
        layer_round = LayerRound(mods[self.name], mods.get("bn"), sources[0], target)
        return QatRewrite(before_relu, f"{group.name}__round", layer_round, replace=False,
                          input_of=group.nodes[0])


class ConvOp(WeightOp):
    """Conv2d (+ BatchNorm2d) (+ ReLU), any ``groups``: ``groups`` GEMMs, group ``g`` of
    input channels ``[g C_in/G, (g+1) C_in/G)`` to output channels ``[g C_out/G, ...)``."""

    name = "conv"
    fuses_bn = True
    modules = (nn.Conv2d,)

    def check(self, node: fx.Node, module: nn.Module | None) -> str | None:
        if isinstance(module, nn.Conv2d) and (
                module.dilation != (1, 1) or module.padding_mode != "zeros"
                or isinstance(module.padding, str)):
            return "only dilation=1 and numeric zero padding are supported"
        return None

    def build(self, mods: dict[str, nn.Module], srcs: Sequence[IntLayer], in_shape: Shape,
              out_scale: float, bits: int, where: str) -> tuple[Shape, dict]:
        conv = mods[self.name]
        k, s, p = pair(conv.kernel_size), pair(conv.stride), pair(conv.padding)
        if in_shape[0] != conv.in_channels:
            raise PimsimError(f"{where}: expects {conv.in_channels} input channels, "
                              f"gets {in_shape[0]}")
        out_shape = (conv.out_channels, *conv_output_hw(in_shape[1:], k, s, p))
        return out_shape, {"kernel": k, "stride": s, "padding": p, "groups": conv.groups,
                           **_weighted(conv, mods.get("bn"), srcs[0], out_scale, bits)}

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        x, w, g = inputs[0], layer.weight, layer.groups
        if g == 1:
            acc = accumulate(layer, x, w, layer.stride, layer.padding)
        else:
            cg, og = x.shape[1] // g, w.shape[0] // g
            acc = np.concatenate([accumulate(layer, x[:, i * cg:(i + 1) * cg],
                                             w[i * og:(i + 1) * og], layer.stride,
                                             layer.padding) for i in range(g)])
        return finish(layer, acc)

    def gemm(self, layer: IntLayer) -> Gemm:
        return Gemm(layer.in_shape[0], layer.out_shape[0], layer.kernel, layer.stride,
                    layer.padding, tuple(layer.in_shape[1:3]), tuple(layer.out_shape[1:3]),
                    layer.groups)

    def module_channels(self, module: nn.Module) -> tuple[int, int]:
        return module.in_channels, module.out_channels

    def module_gemm(self, module: nn.Module, c_in: int, c_out: int, in_hw: tuple[int, int],
                    out_hw: tuple[int, int], where: str) -> Gemm:
        check_groups(c_in, c_out, module.groups, where)
        return Gemm(c_in, c_out, pair(module.kernel_size), pair(module.stride),
                    pair(module.padding), in_hw, out_hw, module.groups)


class LinearOp(WeightOp):
    """Linear (+ ReLU): the GEMM of a 1x1 convolution of a 1x1 image."""

    name = "linear"
    modules = (nn.Linear,)

    def build(self, mods: dict[str, nn.Module], srcs: Sequence[IntLayer], in_shape: Shape,
              out_scale: float, bits: int, where: str) -> tuple[Shape, dict]:
        fc = mods[self.name]
        if in_shape != (fc.in_features,):
            raise PimsimError(f"{where}: expects ({fc.in_features},) inputs, gets {in_shape}")
        return (fc.out_features,), _weighted(fc, None, srcs[0], out_scale, bits)

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        acc = accumulate(layer, inputs[0][:, :, None, None], layer.weight[:, :, None, None],
                         (1, 1), (0, 0))
        return finish(layer, acc[:, :, 0, 0])

    def gemm(self, layer: IntLayer) -> Gemm:
        return Gemm(layer.in_shape[0], layer.out_shape[0])

    def module_channels(self, module: nn.Module) -> tuple[int, int]:
        return module.in_features, module.out_features

    def module_gemm(self, module: nn.Module, c_in: int, c_out: int, in_hw: tuple[int, int],
                    out_hw: tuple[int, int], where: str) -> Gemm:
        return Gemm(c_in, c_out)


class AddOp(LayerOp):
    """Residual addition (+ ReLU): both inputs aligned to the output scale with one shift,
    ``q = clamp(requantize(q_a * M_a + q_b * M_b, 1, shift))``,
    ``M_i = floor(s_i / s_out * 2**shift + 1/2)``."""

    name = "add"
    defines_scale = True
    fuses_relu = True
    arity = 2
    functions = (operator.add, torch.add, operator.iadd)
    methods = ("add",)

    def check(self, node: fx.Node, module: nn.Module | None) -> str | None:
        if len(node.args) != 2 or node.kwargs or \
                not all(isinstance(a, fx.Node) for a in node.args):
            return "only the addition of two tensors is supported"
        return None

    def build(self, mods: dict[str, nn.Module], srcs: Sequence[IntLayer], in_shape: Shape,
              out_scale: float, bits: int, where: str) -> tuple[Shape, dict]:
        if srcs[0].out_shape != srcs[1].out_shape:
            raise PimsimError(f"{where}: adds shapes {srcs[0].out_shape} and "
                              f"{srcs[1].out_shape}")
        mult, shift = add_multipliers(np.array([src.out_scale for src in srcs]), out_scale)
        return in_shape, {"multiplier": mult, "shift": np.array([shift], dtype=np.int64)}

    def fake_quant(self, group: Group, mods: dict[str, nn.Module],
                   sources: tuple[ActQuant, ...], target: ActQuant | None) -> QatRewrite:
        return QatRewrite(group.nodes[0], f"{group.name}__add", AddRound(sources, target),
                          replace=True)

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        lo, hi = qrange(layer.out_bits, layer.out_signed)
        return requantize_sum(inputs[0], inputs[1], int(layer.multiplier[0]),
                              int(layer.multiplier[1]), int(layer.shift[0]), lo, hi)


class ReluOp(LayerOp):
    """A ReLU not fused into a layer: ``max(q, 0)``, scale kept, output unsigned."""

    name = "relu"
    clears_sign = True
    modules = (nn.ReLU,)
    functions = (torch.relu, F.relu)
    methods = ("relu",)

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        return np.maximum(inputs[0], 0)


class PoolOp(LayerOp):
    """Shared by the pools: the window of AvgPool2d/MaxPool2d, or the whole input for
    AdaptiveAvgPool2d(1)."""

    def build(self, mods: dict[str, nn.Module], srcs: Sequence[IntLayer], in_shape: Shape,
              out_scale: float, bits: int, where: str) -> tuple[Shape, dict]:
        pool = mods[self.name]
        if isinstance(pool, nn.AdaptiveAvgPool2d):
            k, s, p = tuple(in_shape[1:]), tuple(in_shape[1:]), (0, 0)
        else:
            k, s = pair(pool.kernel_size), pair(pool.stride or pool.kernel_size)
            p = pair(pool.padding)
        out_shape = (in_shape[0], *conv_output_hw(in_shape[1:], k, s, p))
        return out_shape, {"kernel": k, "stride": s, "padding": p}


class MaxPoolOp(PoolOp):
    """MaxPool2d: window maximum (padding never wins); scale kept."""

    name = "maxpool"
    modules = (nn.MaxPool2d,)

    def check(self, node: fx.Node, module: nn.Module | None) -> str | None:
        if module.dilation not in (1, (1, 1)) or module.ceil_mode or module.return_indices:
            return "only dilation=1, ceil_mode=False pooling is supported"
        return None

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        fill = np.iinfo(np.int64).min
        return windows(inputs[0], layer.kernel, layer.stride, layer.padding,
                       fill).max(axis=(4, 5))


class AvgPoolOp(PoolOp):
    """AvgPool2d, AdaptiveAvgPool2d(1): window sums, ``q = clamp(requantize(sum, M, shift))``
    with ``M * 2**-shift ~= 1 / (kh * kw)``; scale kept."""

    name = "avgpool"
    modules = (nn.AvgPool2d, nn.AdaptiveAvgPool2d)

    def check(self, node: fx.Node, module: nn.Module | None) -> str | None:
        if isinstance(module, nn.AdaptiveAvgPool2d):
            if module.output_size not in (1, (1, 1)):
                return "only AdaptiveAvgPool2d(1) (global average) is supported"
        elif module.padding not in (0, (0, 0)) or module.ceil_mode \
                or module.divisor_override is not None:
            return "only AvgPool2d without padding, ceil_mode or divisor_override"
        return None

    def build(self, mods: dict[str, nn.Module], srcs: Sequence[IntLayer], in_shape: Shape,
              out_scale: float, bits: int, where: str) -> tuple[Shape, dict]:
        out_shape, fields = super().build(mods, srcs, in_shape, out_scale, bits, where)
        k = fields["kernel"]
        mult, shift = quantize_multiplier(np.array([1.0 / (k[0] * k[1])]))
        return out_shape, {**fields, "multiplier": mult, "shift": shift}

    def fake_quant(self, group: Group, mods: dict[str, nn.Module],
                   sources: tuple[ActQuant, ...], target: ActQuant | None) -> QatRewrite:
        return QatRewrite(group.nodes[0], group.name, GridRound(mods[self.name], sources[0]),
                          replace=True)

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        total = windows(inputs[0], layer.kernel, layer.stride, (0, 0), 0).sum(axis=(4, 5))
        return out_clamp(requantize(total, layer.multiplier[0], layer.shift[0]), layer)


class FlattenOp(LayerOp):
    """flatten(start_dim=1): ``[C, H, W]`` to ``[C * H * W]`` in C order; scale kept."""

    name = "flatten"
    modules = (nn.Flatten,)
    functions = (torch.flatten,)
    methods = ("flatten",)

    def check(self, node: fx.Node, module: nn.Module | None) -> str | None:
        start = module.start_dim if module is not None else \
            (node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0))
        end = module.end_dim if module is not None else \
            (node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1))
        return None if (start, end) == (1, -1) else "only flatten(start_dim=1) is supported"

    def build(self, mods: dict[str, nn.Module], srcs: Sequence[IntLayer], in_shape: Shape,
              out_scale: float, bits: int, where: str) -> tuple[Shape, dict]:
        return (math.prod(in_shape),), {}

    def execute(self, layer: IntLayer, inputs: Sequence[np.ndarray],
                accumulate: Accumulate) -> np.ndarray:
        return inputs[0].reshape(inputs[0].shape[0], -1)


OPS: dict[str, LayerOp] = {op.name: op for op in (
    InputOp(), ConvOp(), LinearOp(), AddOp(), ReluOp(), MaxPoolOp(), AvgPoolOp(), FlattenOp())}
"""Every op of the integer graph by name (the ``op`` of ``Group``, ``IntLayer`` and files)."""


def recognise(node: fx.Node, module: nn.Module | None) -> LayerOp | None:
    """The op that the fx ``node`` is (``module``: its module, for ``call_module``)."""
    return next((op for op in OPS.values() if op.recognises(node, module)), None)


def recognise_module(module: nn.Module) -> LayerOp | None:
    """The op a module is (by type), or None."""
    return next((op for op in OPS.values() if isinstance(module, op.modules)), None)


def supported() -> str:
    """What the tracer accepts, for error messages."""
    names = [t.__name__ for op in OPS.values() for t in op.modules]
    return ", ".join(names) + ", BatchNorm2d after a Conv2d, Identity, Dropout and tensor additions"
