"""Adaptor layers: DA3's additive attention and the baselines' residual adapters and masks.

DA3 (Yang, Rakin & Fan, CVPR-W 2022, arXiv 2012.01362): a frozen backbone, and small attention
adaptors whose output is *added* to frozen convolutions (a multiplicative attention
``y * a(y)`` would need ``y`` kept for ``dL/da``; an additive one needs nothing of ``y``).
Choices the paper leaves open, made here (:class:`DA3Design`). The default, chosen by the
ablation of ``benchmarks/da3.py --ablation`` (resnet20, 5 digits domains): channel attention on
each block's first convolution and on the stem, BatchNorm statistics re-estimated per domain
and a trained BatchNorm bias, Adam at 2e-2 (``TrainSettings.da3_lr``; at 1e-3 the
zero-initialised adaptors barely move in 10 epochs: 79 % mean top-1 instead of 93 %). The
spatial branch ``a_c * s_hw`` (the same mean top-1 over four runs, 2.8x the saved bytes),
units on the second convolutions (1.5x) and a trained BatchNorm gain (16x) gained nothing
beyond the run-to-run spread (about 1 point); ``a_c + s_hw`` was unstable at that rate.

- an adaptor reads the input ``x`` of the convolution it adapts. Channel attention:
  ``a = W2 relu(W1 mean_hw(x) + b1) + b2`` (``hidden = max(4, C_out // 4)``), one value per
  output channel; spatial attention (CBAM-style): ``s = conv3x3([mean_c(x); max_c(x)])``, one
  map at the convolution's output resolution (its stride; 3x3 as the maps here are 8x8 to
  2x2). Their combination (``spatial``): ``a_c + s_hw`` ("sum"), ``a_c * s_hw`` ("product"), or
  ``a_c`` alone ("none"). The unit computes ``pre = BN(conv(x)) + that``;
- ``W2``, ``b2`` and the spatial weights start at zero (the spatial bias at 0 for "sum", 1 for
  "product"), so an adapted model starts as the backbone;
- where: each residual block's first convolution (the gated ones), optionally the stem
  (``stem``) and each block's second convolution (``conv2``), which never gate;
- BatchNorm per domain (:class:`pimsim.adapt.lean.DomainBatchNorm2d`): statistics re-estimated
  on the domain's training images without gradient (``bn_stats``), a trained bias
  (``bn_bias``, no saved tensor), a trained gain (``bn_gain``, saves the layer's input);
- dynamic gating at inference: channel ``c`` is skipped for an image when
  ``u_c + M_c <= 0``, ``u_c`` the largest value of the adaptor's term over the channel's
  pixels and ``M_c`` the largest ``BN(conv(x))_c`` over the domain's training images
  (calibrated after training, :func:`pimsim.adapt.loop.calibrate_gates`). On those images a
  gated channel's ReLU output is zero anyway, so gating changes nothing there; on other images
  it is an approximation, measured. Nothing in the paper's loss pushes channels off; an
  optional gate penalty (pimsim's, default off) adds ``lambda * mean_{n,c} relu(u_c + M0_c)``
  per unit, ``M0`` the bounds of the backbone before training.

Baselines: parallel residual adapters (Rebuffi et al. 2018: ``conv(x) + conv1x1(x)`` beside
each convolution inside a block), series residual adapters (Rebuffi et al. 2017: ``z +
conv1x1(z)`` after it, ``z = conv(x)``), both 1x1 adapters zero-initialised; Piggyback (Mallya
et al. 2018): a binary mask per frozen weight, ``W * (m > 5e-3)``, real-valued scores ``m``
initialised at ``1e-2`` and trained through a straight-through estimator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pimsim.adapt.lean import DomainBatchNorm2d, FrozenConv2d
from pimsim.errors import PimsimError

REDUCTION, MIN_HIDDEN, SPATIAL_KERNEL = 4, 4, 3
PIGGYBACK_INIT, PIGGYBACK_THRESHOLD = 1e-2, 5e-3
SPATIAL = ("none", "sum", "product")


@dataclass(frozen=True)
class DA3Design:
    """Where DA3's adaptors go and what else each domain trains (see the module docstring)."""

    spatial: str = "none"
    stem: bool = True
    conv2: bool = False
    bn_stats: bool = True
    bn_bias: bool = True
    bn_gain: bool = False

    def __post_init__(self) -> None:
        if self.spatial not in SPATIAL:
            raise PimsimError(f"DA3 design: spatial: {self.spatial!r} is not one of "
                              f"{', '.join(SPATIAL)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> DA3Design:
        fields = cls.__dataclass_fields__
        if not isinstance(data, dict) or set(data) != set(fields):
            raise PimsimError(f"{where}: must hold the keys {', '.join(fields)}")
        for key, value in data.items():
            if not isinstance(value, str if key == "spatial" else bool):
                raise PimsimError(f"{where}: {key}: bad value {value!r}")
        try:
            return cls(**data)
        except PimsimError as exc:
            raise PimsimError(f"{where}: {exc}") from None


def _index_dtype(channels: int) -> torch.dtype:
    return torch.uint8 if channels <= 256 else torch.int16 if channels <= 32768 else torch.int32


class _ChannelMax(torch.autograd.Function):
    """``max_c x`` (keeping the channel dimension); saves the argmax in the smallest integer
    type that holds it (``uint8`` up to 256 channels) rather than ``int64``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        values, index = x.max(dim=1, keepdim=True)
        ctx.save_for_backward(index.to(_index_dtype(x.shape[1])))
        ctx.shape = x.shape
        return values

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (index,) = ctx.saved_tensors
        return grad.new_zeros(ctx.shape).scatter_(1, index.long(), grad)


def channel_max(x: Tensor) -> Tensor:
    return _ChannelMax.apply(x) if x.requires_grad else x.amax(dim=1, keepdim=True)


class AttentionAdaptor(nn.Module):
    """Channel attention ``a = W2 relu(W1 mean_hw(x) + b1) + b2`` and, unless ``spatial`` is
    "none", spatial attention ``s = conv([mean_c(x); max_c(x)])`` at ``stride``."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int] | int = 1,
                 spatial: str = "none") -> None:
        super().__init__()
        hidden = max(MIN_HIDDEN, c_out // REDUCTION)
        self.mode = spatial
        self.fc1 = nn.Linear(c_in, hidden)
        self.fc2 = nn.Linear(hidden, c_out)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)
        self.spatial: nn.Conv2d | None = None
        if spatial != "none":
            self.spatial = nn.Conv2d(2, 1, SPATIAL_KERNEL, stride, SPATIAL_KERNEL // 2)
            nn.init.zeros_(self.spatial.weight)
            nn.init.constant_(self.spatial.bias, 1.0 if spatial == "product" else 0.0)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(a, s)``: ``N x C_out`` and ``N x 1 x H' x W'`` (None without spatial)."""
        a = self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3)))))
        if self.spatial is None:
            return a, None
        return a, self.spatial(torch.cat([x.mean(dim=1, keepdim=True), channel_max(x)], 1))

    def term(self, a: Tensor, s: Tensor | None) -> Tensor:
        """What is added to the frozen path (broadcast over ``N x C x H' x W'``)."""
        if s is None:
            return a[:, :, None, None]
        return a[:, :, None, None] + s if self.mode == "sum" else a[:, :, None, None] * s

    def upper(self, a: Tensor, s: Tensor | None) -> Tensor:
        """``N x C``: the largest value of :meth:`term` over each channel's pixels."""
        if s is None:
            return a
        hi, lo = s.amax(dim=(1, 2, 3))[:, None], s.amin(dim=(1, 2, 3))[:, None]
        return a + hi if self.mode == "sum" else torch.maximum(a * hi, a * lo)


class DA3Unit(nn.Module):
    """A frozen convolution and its per-domain BatchNorm plus the additive attention:
    ``pre = BN(conv(x)) + term(x)``; a unit that ``gates`` zeroes (skips) channel ``c`` of an
    image in eval mode with gating on when ``u_c + M_c <= 0`` and counts the channels it lets
    through."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, design: DA3Design = DA3Design(),
                 gates: bool = True) -> None:
        super().__init__()
        self.conv = FrozenConv2d(conv)
        self.bn = DomainBatchNorm2d(bn, design.bn_bias, design.bn_gain, design.bn_stats)
        self.adaptor = AttentionAdaptor(conv.in_channels, conv.out_channels, conv.stride,
                                        design.spatial)
        self.gates = gates
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
        a, s = self.adaptor(x)
        pre = self.bn(self.conv(x)) + self.adaptor.term(a, s)
        if not self.gates or not (self.gating or self.penalize):
            return pre
        upper = self.adaptor.upper(a, s)
        if self.penalize and self.training:
            self.penalty = F.relu(upper + self.bound).mean()
        if self.gating and not self.training:
            keep = (upper + self.bound) > 0
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
