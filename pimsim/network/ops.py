"""Width-sliceable layers (dynamic ops) and the two builders that make a network from them.

A network definition (see ``resnet.py``) asks a *builder* for its layers. ``DynamicOps`` returns
width-sliceable layers that hold the full weights and use a prefix of the channels of the active
sub-net; ``StaticOps`` returns plain ``nn.Conv2d``/``nn.BatchNorm2d``/``nn.Linear`` layers of one
sub-net's sizes. Both builders produce the same module names, which is what makes
``export_subnet`` a plain copy of sliced tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Fixed:
    """A channel dimension that never shrinks (the image channels, the class count)."""

    channels: int


Group = int | Fixed


class SubnetState:
    """Mutable state shared by every dynamic layer of one network: the active sub-net index.

    Switching sub-nets sets one integer here, so it costs O(1) and touches no weights.
    """

    def __init__(self) -> None:
        self.active = -1


class _Sliceable:
    """Mix-in: per registered sub-net, the (in, out) channel counts of one layer, and an
    optional weight mask (sparse sub-nets): the active weight is ``W[:out, :in] * mask``."""

    in_group: Group
    out_group: Group
    state: SubnetState
    sizes: list[tuple[int, int]]
    masks: dict[int, torch.Tensor]

    def _count(self, group: Group, counts: Sequence[int]) -> int:
        return group.channels if isinstance(group, Fixed) else counts[group]

    def add_subnet(self, counts: Sequence[int]) -> None:
        self.sizes.append((self._count(self.in_group, counts), self._count(self.out_group, counts)))

    def active_weight(self) -> torch.Tensor:
        if self.state.active < 0:
            raise RuntimeError("no active sub-net: call set_subnet() first")
        cin, cout = self.sizes[self.state.active]
        weight = self.weight[:cout, :cin]  # type: ignore[attr-defined]
        mask = self.masks.get(self.state.active)
        return weight if mask is None else weight * mask[:cout, :cin]


class SlimConv2d(nn.Conv2d, _Sliceable):
    """Conv2d whose active sub-net uses the first ``out`` filters over the first ``in`` inputs."""

    def __init__(self, in_group: Group, out_group: Group, in_channels: int, out_channels: int,
                 kernel_size: int, stride: int, padding: int, state: SubnetState) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.in_group, self.out_group, self.state, self.sizes = in_group, out_group, state, []
        self.masks = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.active_weight(), None, self.stride, self.padding)


class SlimLinear(nn.Linear, _Sliceable):
    """Linear layer whose active sub-net uses the first ``in`` input features."""

    def __init__(self, in_group: Group, out_group: Group, in_features: int, out_features: int,
                 state: SubnetState) -> None:
        super().__init__(in_features, out_features)
        self.in_group, self.out_group, self.state, self.sizes = in_group, out_group, state, []
        self.masks = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.active_weight()
        return F.linear(x, weight, self.bias[: weight.shape[0]])


class SwitchableBatchNorm2d(nn.Module):
    """One private BatchNorm per registered sub-net (switchable BN, Yu et al. ICLR 2019).

    A shared BN would hold statistics that are right for one width only.
    """

    def __init__(self, group: Group, state: SubnetState) -> None:
        super().__init__()
        self.group, self.state = group, state
        self.bn = nn.ModuleList()

    def add_subnet(self, counts: Sequence[int]) -> None:
        n = self.group.channels if isinstance(self.group, Fixed) else counts[self.group]
        self.bn.append(nn.BatchNorm2d(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.state.active < 0:
            raise RuntimeError("no active sub-net: call set_subnet() first")
        return self.bn[self.state.active](x)


class DynamicOps:
    """Builder of width-sliceable layers; records each channel group's name and full width."""

    def __init__(self) -> None:
        self.state = SubnetState()
        self.group_names: list[str] = []
        self.group_widths: list[int] = []

    def group(self, name: str, width: int) -> int:
        self.group_names.append(name)
        self.group_widths.append(width)
        return len(self.group_widths) - 1

    def channels(self, group: Group) -> int:
        return group.channels if isinstance(group, Fixed) else self.group_widths[group]

    def conv(self, in_group: Group, out_group: Group, kernel_size: int, stride: int = 1,
             padding: int = 0) -> SlimConv2d:
        return SlimConv2d(in_group, out_group, self.channels(in_group), self.channels(out_group),
                          kernel_size, stride, padding, self.state)

    def bn(self, group: Group) -> SwitchableBatchNorm2d:
        return SwitchableBatchNorm2d(group, self.state)

    def linear(self, in_group: Group, out_features: int) -> SlimLinear:
        return SlimLinear(in_group, Fixed(out_features), self.channels(in_group), out_features,
                          self.state)


class StaticOps:
    """Builder of plain layers sized for one sub-net (``counts``: one count per group)."""

    def __init__(self, counts: Sequence[int]) -> None:
        self.counts = tuple(counts)
        self._next = 0

    def group(self, name: str, width: int) -> int:
        self._next += 1
        return self._next - 1

    def channels(self, group: Group) -> int:
        return group.channels if isinstance(group, Fixed) else self.counts[group]

    def conv(self, in_group: Group, out_group: Group, kernel_size: int, stride: int = 1,
             padding: int = 0) -> nn.Conv2d:
        return nn.Conv2d(self.channels(in_group), self.channels(out_group), kernel_size, stride,
                         padding, bias=False)

    def bn(self, group: Group) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(self.channels(group))

    def linear(self, in_group: Group, out_features: int) -> nn.Linear:
        return nn.Linear(self.channels(in_group), out_features)
