"""Adaptor layers: DA3's additive attention and the baselines' residual adapters and masks.

DA3 (Yang, Rakin & Fan, CVPR-W 2022, arXiv 2012.01362): a frozen backbone, and per residual
block a small attention adaptor whose output is *added* to the block's first convolution (a
multiplicative attention ``y * a(y)`` would need ``y`` kept for ``dL/da``; an additive one needs
nothing of ``y``). Choices the paper leaves open, made here:

- the adaptor reads the block input ``x`` through a global average pool
  (``s = mean_hw(x)``, ``N x C_in``), then ``a = W2 relu(W1 s + b1) + b2`` with
  ``hidden = max(4, C_mid // 4)`` (reduction 4), one value per channel of the block's first
  convolution, broadcast over its pixels: ``pre = BN(conv1(x)) + a``;
- ``W2, b2`` start at zero, so an adapted model starts as the backbone;
- the backbone's BatchNorm stays frozen (source statistics; training it would keep its input);
- dynamic gating at inference: channel ``c`` is skipped for an image when ``a_c + M_c <= 0``,
  ``M_c`` the largest ``BN(conv1(x))_c`` over the domain's training images (calibrated after
  training, :func:`calibrate_gates`). On those images a gated channel's ReLU output is zero
  anyway, so gating changes nothing there; on other images it is an approximation, measured.
  Nothing in the paper's loss pushes channels off; an optional gate penalty (pimsim's, default
  off) adds ``lambda * mean_{n,c} relu(a_c + M0_c)`` per unit, ``M0`` the bounds of the
  backbone before training, which is zero once every channel would be gated.

Baselines: parallel residual adapters (Rebuffi et al. 2018: ``conv(x) + conv1x1(x)`` beside
each convolution inside a block), series residual adapters (Rebuffi et al. 2017: ``z +
conv1x1(z)`` after it, ``z = conv(x)``), both 1x1 adapters zero-initialised; Piggyback (Mallya
et al. 2018): a binary mask per frozen weight, ``W * (m > 5e-3)``, real-valued scores ``m``
initialised at ``1e-2`` and trained through a straight-through estimator.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pimsim.adapt.lean import FrozenBatchNorm2d, FrozenConv2d

REDUCTION, MIN_HIDDEN = 4, 4
PIGGYBACK_INIT, PIGGYBACK_THRESHOLD = 1e-2, 5e-3


class AttentionAdaptor(nn.Module):
    """``a = W2 relu(W1 mean_hw(x) + b1) + b2``: one additive value per output channel."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        hidden = max(MIN_HIDDEN, c_out // REDUCTION)
        self.fc1 = nn.Linear(c_in, hidden)
        self.fc2 = nn.Linear(hidden, c_out)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3)))))


class DA3Unit(nn.Module):
    """A block's frozen first convolution and BatchNorm plus the additive attention:
    ``pre = BN(conv(x)) + a(x)``; with gating on (eval), channel ``c`` is zeroed (skipped) for
    an image when ``a_c + M_c <= 0``. Counts the active channels it lets through."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv = FrozenConv2d(conv)
        self.bn = FrozenBatchNorm2d(bn)
        self.adaptor = AttentionAdaptor(conv.in_channels, conv.out_channels)
        self.register_buffer("bound", torch.full((conv.out_channels,), float("inf")))
        self.gating = False
        self.penalize = False  # training: keep the gate penalty of the last forward pass
        self.penalty: Tensor | None = None
        self.active_sum = torch.zeros(conv.out_channels, dtype=torch.float64)
        self.images = 0

    @property
    def channels(self) -> int:
        return int(self.bound.numel())

    def forward(self, x: Tensor) -> Tensor:
        a = self.adaptor(x)
        pre = self.bn(self.conv(x)) + a[:, :, None, None]
        if self.penalize and self.training:
            self.penalty = F.relu(a + self.bound).mean()
        if self.gating and not self.training:
            keep = (a + self.bound) > 0
            self.active_sum += keep.sum(0).double().cpu()
            self.images += x.shape[0]
            pre = pre * keep[:, :, None, None].to(pre.dtype)
        return pre

    def reset_counts(self) -> None:
        self.active_sum.zero_()
        self.images = 0

    def active_fraction(self) -> Tensor:
        """Mean fraction of images for which each channel ran (gating on)."""
        return self.active_sum / max(self.images, 1)


class ParallelAdapter(nn.Module):
    """``conv(x) + A(x)``, ``A`` a zero-initialised 1x1 convolution of the same stride."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = FrozenConv2d(conv)
        self.adapter = nn.Conv2d(conv.in_channels, conv.out_channels, 1, conv.stride, 0,
                                 bias=False)
        nn.init.zeros_(self.adapter.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + self.adapter(x)


class SeriesAdapter(nn.Module):
    """``z + A(z)``, ``z = conv(x)``, ``A`` a zero-initialised 1x1 convolution."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = FrozenConv2d(conv)
        self.adapter = nn.Conv2d(conv.out_channels, conv.out_channels, 1, bias=False)
        nn.init.zeros_(self.adapter.weight)

    def forward(self, x: Tensor) -> Tensor:
        z = self.conv(x)
        return z + self.adapter(z)


class _Binarize(torch.autograd.Function):
    """``m > threshold`` forward; straight-through (identity) gradient."""

    @staticmethod
    def forward(ctx: Any, scores: Tensor) -> Tensor:
        return (scores > PIGGYBACK_THRESHOLD).to(scores.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


class PiggybackConv(nn.Module):
    """``conv2d(x, W * (m > 5e-3))``: frozen ``W``, trained real-valued scores ``m``."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.register_buffer("weight", conv.weight.detach().clone())
        self.scores = nn.Parameter(torch.full_like(conv.weight, PIGGYBACK_INIT))
        self.stride, self.padding, self.groups = conv.stride, conv.padding, conv.groups

    def mask(self) -> Tensor:
        return _Binarize.apply(self.scores)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask(), None, self.stride, self.padding, 1,
                        self.groups)
