"""Frozen layers that keep only what their backward pass needs (the memory DA3 relies on).

PyTorch's own ``Conv2d`` and eval-mode ``BatchNorm2d`` save their input for backward even when
their weights are frozen; the input's gradient does not need it (``dL/dx = W^T * dL/dy``). These
layers hold frozen tensors as buffers and save nothing per image, except :class:`MaskReLU`,
which keeps a 1-byte mask (``y > 0``) instead of its float output.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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


class FrozenBatchNorm2d(nn.Module):
    """Eval-mode BatchNorm as ``x * scale + shift`` with ``scale = gamma / sqrt(var + eps)``,
    ``shift = beta - mean * scale`` (buffers: the product saves ``scale`` only)."""

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
        self.register_buffer("scale", scale.detach().clone().view(1, -1, 1, 1))
        self.register_buffer("shift", shift.detach().clone().view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift


class _MaskReLU(torch.autograd.Function):
    """``y = max(x, 0)``; backward ``dL/dx = dL/dy * (y > 0)`` from a bool mask."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = x.clamp_min(0)
        ctx.save_for_backward(y > 0)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (mask,) = ctx.saved_tensors
        return grad * mask


class MaskReLU(nn.Module):
    """ReLU that saves a 1-byte mask for backward (a float ReLU saves its 4-byte output)."""

    def forward(self, x: Tensor) -> Tensor:
        return _MaskReLU.apply(x) if x.requires_grad else x.clamp_min(0)
