"""Straight-through fake quantizers and the scale rules shared with the integer export.

Weights: symmetric, per output channel, signed: ``s_w[o] = max|w[o]| / (2**(b-1) - 1)``,
``q = clamp(round(w / s_w), -(2**(b-1) - 1), 2**(b-1) - 1)`` with round-half-to-even (symmetric
under negation, so folding a negative BatchNorm gain into ``w`` negates ``q`` exactly).
Activations: ``q = clamp(floor(x / s + 1/2), qmin, qmax)``, ``[0, 2**b - 1]`` after a ReLU,
``[-2**(b-1), 2**(b-1) - 1]`` where the tensor can be negative; the scale comes from the observed
range: ``s = hi / (2**b - 1)`` unsigned, ``s = max(|lo|, |hi|) / (2**(b-1) - 1)`` signed.
Gradients pass straight through inside the clamp range and are zero outside (the clipped
straight-through estimator, Bengio et al. 2013; Jacob et al., CVPR 2018).

Exactness in eval mode: every scale is computed in float64 from the observed range (as the
export computes it), activations are re-read as integers ``round(x / s)`` (exact: they lie on
their grid and ``|q| < 2**16``), and each layer's accumulator is recomputed from those integers
in float64, where every partial sum is an integer below ``2**53`` (checked), so the
fake-quantized model takes exactly the integer graph's values in float32 or float64, whatever the
order of a float32 convolution's sums. Training (straight-through) keeps the float path.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pimsim.errors import PimsimError
from pimsim.network.ops import SlimConv2d, SlimLinear, SubnetState, SwitchableBatchNorm2d
from pimsim.quantize.requant import add_multipliers, qrange, quantize_multiplier, requantize

MIN_RANGE = 1e-8  # a range that never saw a non-zero value still gets a positive scale


def round_half_up(x: Tensor) -> Tensor:
    """``floor(x + 1/2)``: the rounding of requantization (``pimsim.quantize.requant``)."""
    return torch.floor(x + 0.5)


def fake_quant(x: Tensor, scale: Tensor, qmin: int, qmax: int) -> Tensor:
    """``clamp(floor(x / s + 1/2), qmin, qmax) * s`` forward; clipped straight-through gradient."""
    clipped = torch.clamp(x, qmin * scale, qmax * scale)
    q = torch.clamp(round_half_up(x / scale), qmin, qmax) * scale
    return clipped + (q - clipped).detach()


def weight_scale(weight: Tensor, bits: int) -> Tensor:
    """Per-output-channel scale ``max|w[o]| / (2**(b-1) - 1)``, shape ``(out,)``."""
    dims = tuple(range(1, weight.dim()))
    return weight.detach().abs().amax(dim=dims).clamp_min(MIN_RANGE) / ((1 << (bits - 1)) - 1)


def quantize_weight(weight: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    """Integer-valued weights (same dtype as ``weight``) and their per-channel scales."""
    scale = weight_scale(weight, bits)
    qmax = (1 << (bits - 1)) - 1
    shape = (-1,) + (1,) * (weight.dim() - 1)
    return torch.clamp(torch.round(weight / scale.view(shape)), -qmax, qmax), scale


def fake_quant_weight(weight: Tensor, bits: int) -> Tensor:
    """``q * s_w`` forward with a straight-through gradient to ``weight``."""
    q, scale = quantize_weight(weight, bits)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    return weight + (q * scale.view(shape) - weight).detach()


def bn_fold(channels: int, bias: Tensor | None, bn: nn.BatchNorm2d | None,
            like: Tensor) -> tuple[Tensor, Tensor]:
    """``(c, b)`` with ``BN(z + bias) = c * z + b``: ``c = g / sqrt(var + eps)``,
    ``b = c * (bias - mu) + beta`` (``c = 1``, ``b = bias`` without BatchNorm)."""
    b = like.new_zeros(channels) if bias is None else bias.detach().to(like.dtype)
    if bn is None:
        return like.new_ones(channels), b
    c = bn.weight.detach().to(like.dtype) / torch.sqrt(bn.running_var.to(like.dtype) + bn.eps)
    return c, c * (b - bn.running_mean.to(like.dtype)) + bn.bias.detach().to(like.dtype)


def folded_weight_scale(scale: Tensor, factor: Tensor) -> Tensor:
    """``s_w * |c|``: the scale of ``sign(c) * q_w`` as weights of the folded layer (``s_w``
    where ``c = 0``, whose weights then contribute nothing)."""
    return torch.where(factor == 0, scale, scale * factor.abs())


def act_scale(lo: Tensor, hi: Tensor, bits: int, signed: bool) -> Tensor:
    """Activation scale from an observed range ``[lo, hi]`` (see the module docstring)."""
    if signed:
        return torch.maximum(lo.abs(), hi.abs()).clamp_min(MIN_RANGE) / ((1 << (bits - 1)) - 1)
    return hi.clamp_min(MIN_RANGE) / ((1 << bits) - 1)


class ActQuant(nn.Module):
    """Fake quantizer of one activation tensor with one observed range per sub-net.

    The range of the active sub-net (``state.active``) is an exponential moving average of the
    batch min/max while training (momentum ``EMA``, quantizing with it), the overall min/max
    of the unquantized values while ``calibrating``, and frozen in eval. ``signed=None`` (the
    network input) is decided by the range: signed iff ``lo < 0``. A sub-net whose range was
    never observed passes values through unchanged. The per-sub-net buffers grow when a
    sub-net registered later becomes active, and take the length of a loaded state dict's.
    """

    EMA = 0.1

    def __init__(self, bits: int, signed: bool | None, n_subnets: int,
                 state: SubnetState) -> None:
        super().__init__()
        self.bits, self.fixed_sign = bits, signed
        object.__setattr__(self, "state", state)  # shared, not a sub-module
        self.calibrating = False
        self.register_buffer("lo", torch.zeros(n_subnets))
        self.register_buffer("hi", torch.zeros(n_subnets))
        self.register_buffer("seen", torch.zeros(n_subnets))

    def _grow(self, n: int) -> None:
        for key in ("lo", "hi", "seen"):
            old = getattr(self, key)
            if len(old) < n:
                setattr(self, key, torch.cat([old, old.new_zeros(n - len(old))]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        incoming = state_dict.get(prefix + "seen")
        if incoming is not None:
            self._grow(len(incoming))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def signed(self, index: int) -> bool:
        return bool(self.lo[index] < 0) if self.fixed_sign is None else self.fixed_sign

    def scale(self, index: int) -> Tensor:
        """The scale of sub-net ``index`` in float64 (the export's value)."""
        return act_scale(self.lo[index].double(), self.hi[index].double(), self.bits,
                         self.signed(index))

    def integers(self, x: Tensor, index: int) -> Tensor:
        """``round(x / s)`` in float64: the integers of a tensor on this quantizer's grid."""
        return torch.round(x.detach().double() / self.scale(index))

    def qrange(self, index: int) -> tuple[int, int]:
        return qrange(self.bits, self.signed(index))

    @torch.no_grad()
    def observe(self, x: Tensor, index: int) -> None:
        lo, hi = x.min().to(self.lo.dtype), x.max().to(self.hi.dtype)
        if self.seen[index] == 0:
            self.lo[index], self.hi[index] = lo, hi
        elif self.calibrating:
            self.lo[index], self.hi[index] = self.lo[index].minimum(lo), self.hi[index].maximum(hi)
        else:
            self.lo[index] += self.EMA * (lo - self.lo[index])
            self.hi[index] += self.EMA * (hi - self.hi[index])
        self.seen[index] += 1

    def forward(self, x: Tensor) -> Tensor:
        index = self.state.active
        self._grow(index + 1)
        if self.calibrating:  # post-training calibration observes the float model
            self.observe(x, index)
            return x
        if self.training:
            self.observe(x, index)
        if self.seen[index] == 0:
            return x
        if self.training:
            scale = act_scale(self.lo[index], self.hi[index], self.bits, self.signed(index))
            return fake_quant(x, scale, *self.qrange(index))
        scale = self.scale(index)
        q = torch.clamp(round_half_up(x.detach().double() / scale), *self.qrange(index))
        return x + ((q * scale).to(x.dtype) - x).detach()


class GridRound(nn.Module):
    """An average pool whose output is the integer pool's: ``q_sum`` (the exact window sums of
    the input's integers), then ``floor((q_sum * M + 2**(shift-1)) / 2**shift)`` with
    ``M * 2**-shift ~= 1 / n`` in int64, on the grid of the input's quantizer ``source``.
    ``pool`` (AvgPool2d or AdaptiveAvgPool2d(1)) and ``source`` are owned elsewhere."""

    def __init__(self, pool: nn.Module, source: ActQuant) -> None:
        super().__init__()
        object.__setattr__(self, "refs", (pool, source))

    def forward(self, x: Tensor) -> Tensor:
        pool, source = self.refs
        y = pool(x)
        index = source.state.active
        if source.calibrating or source.seen[index] == 0:
            return y
        if isinstance(pool, nn.AdaptiveAvgPool2d):
            n = x.shape[-2] * x.shape[-1]
        else:
            kh, kw = (pool.kernel_size,) * 2 if isinstance(pool.kernel_size, int) \
                else pool.kernel_size
            n = kh * kw
        scale = source.scale(index)
        sums = torch.round(pool(source.integers(x, index)) * n).long()  # exact window sums
        mult, shift = (int(v) for v in quantize_multiplier(1.0 / n))
        q = (sums * mult + (1 << (shift - 1))) >> shift
        return y + ((torch.clamp(q, *source.qrange(index)) * scale).to(y.dtype) - y).detach()


def _on_grid(y: Tensor, q: np.ndarray, scale: Tensor) -> Tensor:
    """``q * scale`` (float64, then ``y``'s dtype) forward, straight-through gradient to ``y``."""
    value = torch.from_numpy(q).to(y.device, torch.float64) * scale.to(y.device)
    return y + (value.to(y.dtype) - y).detach()


def exact_accumulator(layer: nn.Module, q_in: Tensor, q_w: Tensor, in_bits: int) -> Tensor:
    """``sum q_in * q_w`` of a conv or linear layer over integer-valued float64 tensors, exact:
    every product and partial sum is an integer below ``2**53`` (refused otherwise)."""
    fan_in = q_w[0].numel()
    if fan_in * (1 << in_bits) * (1 << (layer.bits - 1)) >= 1 << 53:
        raise PimsimError(f"layer of fan-in {fan_in}: its accumulator may exceed 2**53")
    if q_w.dim() == 2:
        return F.linear(q_in, q_w)
    return F.conv2d(q_in, q_w, None, layer.stride, layer.padding, 1, getattr(layer, "groups", 1))


class LayerRound(nn.Module):
    """In eval mode, a conv(+BN) or linear layer's output as the integer layer computes it:
    the accumulator ``acc = sum q_in * q_w'`` recomputed exactly from the layer input ``x``'s
    integers and the folded integer weights (:func:`exact_accumulator`),
    ``requantize(acc + floor(b / s_acc + 1/2), M, shift)`` with ``s_acc = s_in * s_w * |c|`` and
    ``M * 2**-shift ~= s_acc / s_out`` (all in float64, as the export), on the grid of the
    layer's output quantizer ``target`` (unclamped: a following ReLU and ``target`` clamp). In
    training it passes ``y`` unchanged. ``layer``, ``bn`` and the quantizers ``source``
    (input) and ``target`` are owned elsewhere."""

    def __init__(self, layer: nn.Module, bn: nn.Module | None, source: ActQuant,
                 target: ActQuant) -> None:
        super().__init__()
        object.__setattr__(self, "refs", (layer, bn, source, target))

    def forward(self, y: Tensor, x: Tensor) -> Tensor:
        layer, bn, source, target = self.refs
        index = source.state.active
        if self.training or target.calibrating or source.seen[index] == 0 \
                or target.seen[index] == 0:
            return y
        weight = layer.active_weight() if hasattr(layer, "active_weight") else layer.weight
        weight = weight.detach().double()
        q_w, s_w = quantize_weight(weight, layer.bits)
        bias = None if layer.bias is None else layer.bias[:len(s_w)]
        norm = bn.bn[index] if isinstance(bn, SwitchableBatchNorm2d) else bn
        factor, b = bn_fold(len(s_w), bias, norm, weight)
        q_w = q_w * torch.sign(factor).view((-1,) + (1,) * (q_w.dim() - 1))
        s_acc = source.scale(index) * folded_weight_scale(s_w, factor)
        s_out = target.scale(index)
        shape = (1, -1) + (1,) * (y.dim() - 2)
        acc = exact_accumulator(layer, source.integers(x, index), q_w, source.bits).long() \
            + round_half_up(b / s_acc).long().view(shape)
        mult, shift = quantize_multiplier((s_acc / s_out).cpu().numpy())
        q = requantize(acc.movedim(1, -1).cpu().numpy(), mult, shift)
        return _on_grid(y, np.moveaxis(q, -1, 1), s_out)


class AddRound(nn.Module):
    """A residual addition; in eval mode computed as the integer add does:
    ``requantize(q_a * M_a + q_b * M_b, 1, shift)`` on the grid of ``target``."""

    def __init__(self, sources: tuple[ActQuant, ActQuant], target: ActQuant) -> None:
        super().__init__()
        object.__setattr__(self, "refs", (sources, target))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        y = a + b
        sources, target = self.refs
        index = target.state.active
        if self.training or target.calibrating or target.seen[index] == 0 \
                or any(s.seen[index] == 0 for s in sources):
            return y
        s_out = target.scale(index)
        mult, shift = add_multipliers(np.array([float(s.scale(index)) for s in sources]),
                                      float(s_out))
        acc = sum(s.integers(v, index).long() * int(m)
                  for v, s, m in zip((a, b), sources, mult, strict=True))
        return _on_grid(y, requantize(acc.cpu().numpy(), 1, shift), s_out)


class QatConv2d(nn.Conv2d):
    """``nn.Conv2d`` with fake-quantized weights (``bits`` set on the instance)."""

    bits: int

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, fake_quant_weight(self.weight, self.bits), self.bias)


class QatLinear(nn.Linear):
    """``nn.Linear`` with fake-quantized weights."""

    bits: int

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, fake_quant_weight(self.weight, self.bits), self.bias)


class QatSlimConv2d(SlimConv2d):
    """``SlimConv2d`` whose active (sliced, masked) weight is fake-quantized with its own
    channel maxima: the weights the sub-net's integer export quantizes."""

    bits: int

    def forward(self, x: Tensor) -> Tensor:
        weight = fake_quant_weight(self.active_weight(), self.bits)
        return F.conv2d(x, weight, None, self.stride, self.padding)


class QatSlimLinear(SlimLinear):
    """``SlimLinear`` whose active weight is fake-quantized (bias kept in float)."""

    bits: int

    def forward(self, x: Tensor) -> Tensor:
        weight = fake_quant_weight(self.active_weight(), self.bits)
        return F.linear(x, weight, self.bias[: weight.shape[0]])


QAT_CLASSES: dict[type, type] = {nn.Conv2d: QatConv2d, nn.Linear: QatLinear,
                                 SlimConv2d: QatSlimConv2d, SlimLinear: QatSlimLinear}


def make_qat_layer(module: nn.Module, bits: int) -> None:
    """Switch a Conv2d/Linear (plain or slim) to its fake-quantized subclass, in place: the
    parameters, their names and ``isinstance`` checks are unchanged."""
    cls = next((q for base, q in QAT_CLASSES.items() if type(module) in (base, q)), None)
    if cls is None:
        raise TypeError(f"no fake-quantized variant of {type(module).__name__}")
    module.__class__ = cls
    module.bits = bits
