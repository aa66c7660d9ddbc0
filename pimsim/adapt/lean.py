"""Frozen layers that keep only what their backward pass needs (the memory DA3 relies on).

PyTorch's own ``Conv2d`` and eval-mode ``BatchNorm2d`` save their input for backward even when
their weights are frozen; the input's gradient does not need it (``dL/dx = W^T * dL/dy``). These
layers hold frozen tensors as buffers and save nothing per image, except :class:`MaskReLU`,
which keeps a 1-bit mask (``y > 0``, 8 per byte) instead of its float output, and a
:class:`DomainBatchNorm2d` with a trainable gain, which keeps its input.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_BITS = (1, 2, 4, 8, 16, 32, 64, 128)


class _FrozenConv(torch.autograd.Function):
    """``y = conv2d(x, W)``; backward: ``dL/dx = conv2d_input(shape(x), W, dL/dy)``, no ``x``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, stride: tuple[int, int],
                padding: tuple[int, int], groups: int) -> Tensor:
        ctx.save_for_backward(weight)  # a frozen buffer the module holds anyway
        ctx.shape, ctx.stride, ctx.padding, ctx.groups = x.shape, stride, padding, groups
        return F.conv2d(x, weight, None, stride, padding, 1, groups)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        (weight,) = ctx.saved_tensors
        dx = torch.nn.grad.conv2d_input(ctx.shape, weight, grad, ctx.stride, ctx.padding,
                                        1, ctx.groups)
        return dx, None, None, None, None


class FrozenConv2d(nn.Module):
    """A bias-free ``nn.Conv2d`` whose weight is a frozen buffer (dilation 1)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.bias is not None or conv.dilation != (1, 1):
            raise ValueError("FrozenConv2d takes bias-free, undilated convolutions")
        self.register_buffer("weight", conv.weight.detach().clone())
        self.stride = tuple(conv.stride)
        self.padding = tuple(conv.padding)
        self.groups = conv.groups

    def forward(self, x: Tensor) -> Tensor:
        if not x.requires_grad:
            return F.conv2d(x, self.weight, None, self.stride, self.padding, 1, self.groups)
        return _FrozenConv.apply(x, self.weight, self.stride, self.padding, self.groups)


class DomainBatchNorm2d(nn.Module):
    """Eval-mode BatchNorm of one domain, ``y = x * (scale * g) + shift + b`` with
    ``scale = gamma / sqrt(var + eps)``, ``shift = beta - mean * scale`` (buffers; the
    statistics are the source's until :func:`estimate_statistics` re-estimates them on the
    domain's data, without gradient); ``b`` (zero at the start) is trained when ``bias``
    (its gradient, ``sum dL/dy``, needs nothing saved), ``g`` (one at the start) when ``gain``
    (its gradient needs ``x * scale``: the input is saved)."""

    def __init__(self, bn: nn.BatchNorm2d, bias: bool = False, gain: bool = False,
                 reestimate: bool = False) -> None:
        super().__init__()
        c = bn.num_features
        self.eps = bn.eps
        self.reestimate = reestimate
        for name in ("weight", "bias"):
            self.register_buffer(f"source_{name}", getattr(bn, name).detach().clone())
        self.register_buffer("running_mean", bn.running_mean.detach().clone())
        self.register_buffer("running_var", bn.running_var.detach().clone())
        self.register_buffer("scale", torch.empty(1, c, 1, 1))
        self.register_buffer("shift", torch.empty(1, c, 1, 1))
        self._set_affine()
        self.bias = nn.Parameter(torch.zeros(c)) if bias else None
        self.gain = nn.Parameter(torch.ones(c)) if gain else None
        self._sums: tuple[Tensor, Tensor, int] | None = None

    @torch.no_grad()
    def _set_affine(self) -> None:
        scale = self.source_weight / torch.sqrt(self.running_var + self.eps)
        self.scale.copy_(scale.view(1, -1, 1, 1))
        self.shift.copy_((self.source_bias - self.running_mean * scale).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self._sums is not None:  # estimating: normalise by the batch's own statistics
            s1, s2, n = self._sums
            xd = x.detach().double()
            self._sums = (s1 + xd.sum((0, 2, 3)), s2 + (xd * xd).sum((0, 2, 3)),
                          n + x.numel() // x.shape[1])
            return F.batch_norm(x, None, None, self.source_weight, self.source_bias, True,
                                0.0, self.eps)
        scale = self.scale if self.gain is None else self.scale * self.gain.view(1, -1, 1, 1)
        y = x * scale + self.shift
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)

    def start_estimate(self) -> None:
        zero = torch.zeros(self.scale.numel(), dtype=torch.float64)
        self._sums = (zero, zero.clone(), 0)

    def finish_estimate(self) -> None:
        """Set the statistics to the mean and (biased) variance over every pixel seen."""
        assert self._sums is not None
        s1, s2, n = self._sums
        self._sums = None
        mean = s1 / n
        self.running_mean.copy_(mean.to(self.running_mean))
        self.running_var.copy_((s2 / n - mean * mean).clamp_min(0).to(self.running_var))
        self._set_affine()


@torch.no_grad()
def estimate_statistics(model: nn.Module, images: Tensor, batch_size: int = 256) -> bool:
    """Re-estimate every :class:`DomainBatchNorm2d` marked ``reestimate`` on ``images`` (each
    layer normalising its batches by their own statistics, as BatchNorm trains); False when
    the model has none."""
    layers = [m for m in model.modules() if isinstance(m, DomainBatchNorm2d) and m.reestimate]
    if not layers:
        return False
    training = model.training
    model.eval()
    for m in layers:
        m.start_estimate()
    device = next(iter(model.buffers())).device
    for start in range(0, len(images), batch_size):
        model(images[start:start + batch_size].to(device))
    for m in layers:
        m.finish_estimate()
    model.train(training)
    return True


def pack_bits(mask: Tensor) -> Tensor:
    """A bool tensor as ``ceil(numel / 8)`` bytes, element ``8 i + j`` in bit ``j`` of byte
    ``i``."""
    flat = mask.reshape(-1).to(torch.uint8)
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    weights = torch.tensor(_BITS, dtype=torch.uint8, device=mask.device)
    return (flat.view(-1, 8) * weights).sum(1, dtype=torch.uint8)


def unpack_bits(packed: Tensor, shape: torch.Size) -> Tensor:
    """The bool tensor of ``shape`` that :func:`pack_bits` packed."""
    weights = torch.tensor(_BITS, dtype=torch.uint8, device=packed.device)
    bits = (packed[:, None] & weights) != 0
    return bits.reshape(-1)[:shape.numel()].view(shape)


class _MaskReLU(torch.autograd.Function):
    """``y = max(x, 0)``; backward ``dL/dx = dL/dy`` where ``y > 0``, else 0 (as torch's
    ReLU), from the mask packed 8 per byte."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = x.clamp_min(0)
        ctx.save_for_backward(pack_bits(y > 0))
        ctx.shape = y.shape
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (packed,) = ctx.saved_tensors
        return torch.where(unpack_bits(packed, ctx.shape), grad, 0.0)


class MaskReLU(nn.Module):
    """ReLU that saves a 1-bit mask for backward (a float ReLU saves its 4-byte output)."""

    def forward(self, x: Tensor) -> Tensor:
        return _MaskReLU.apply(x) if x.requires_grad else x.clamp_min(0)
