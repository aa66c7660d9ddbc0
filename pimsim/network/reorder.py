"""Channel importance and the permutation that makes every sub-net a prefix of channel order.

Importance of channel c in a group = the sum, over the layers that *produce* that group, of a
per-filter score (default: the L1 norm of filter c, as in Li et al. ICLR 2017 and the seed's
non-uniform sub-nets). Permuting a group's channels consistently in its producers (output
filters, BatchNorm) and consumers (input channels) leaves the network's function unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pimsim.network.dynamic import DynamicNet
from pimsim.network.ops import Fixed, SlimConv2d, SlimLinear, SwitchableBatchNorm2d

FilterScore = Callable[[Tensor], Tensor]


def l1_filter_score(weight: Tensor) -> Tensor:
    """|W|_1 of each output filter: sum over all but the first axis of |w|."""
    return weight.detach().abs().flatten(1).sum(1)


def channel_importance(model: DynamicNet, score: FilterScore = l1_filter_score) -> list[Tensor]:
    """Importance of every channel of every group (one tensor per group, full width)."""
    imp = [torch.zeros(w) for w in model.group_widths]
    for layer in model.sliceable_layers():
        if isinstance(layer, SlimConv2d) and not isinstance(layer.out_group, Fixed):
            imp[layer.out_group] += score(layer.weight).to(imp[layer.out_group])
    return imp


def importance_order(importance: Tensor, keep: list[int]) -> Tensor:
    """Channels sorted by decreasing importance *within* the segments cut at ``keep``.

    ``keep`` are counts of sub-nets already fixed (their prefixes must keep the same channel
    set), so the result never moves a channel across a cut. Ties keep their index order.
    """
    cuts = sorted({0, len(importance), *keep})
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        seg = importance[lo:hi]
        parts.append(lo + torch.sort(-seg, stable=True).indices)
    return torch.cat(parts)


def permute_channels(model: DynamicNet, perms: list[Tensor]) -> None:
    """Apply one permutation per group to every layer that produces or consumes the group."""
    with torch.no_grad():
        for layer in model.sliceable_layers():
            if isinstance(layer, SwitchableBatchNorm2d):
                if isinstance(layer.group, Fixed):
                    continue
                perm = perms[layer.group]
                for bn in layer.bn:
                    p = perm[: bn.num_features]
                    for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                        t.copy_(t[p])
                continue
            assert isinstance(layer, SlimConv2d | SlimLinear)
            for t in (layer.weight, *layer.masks.values()):
                if not isinstance(layer.out_group, Fixed):
                    t.copy_(t[perms[layer.out_group]])
                if not isinstance(layer.in_group, Fixed):
                    t.copy_(t[:, perms[layer.in_group]])


def reorder_by_importance(model: DynamicNet, score: FilterScore = l1_filter_score) -> list[Tensor]:
    """Sort every group's channels by importance, keeping each registered sub-net's channel set.

    Returns the permutation applied to each group (new position i holds old channel perm[i]).
    """
    importance = channel_importance(model, score)
    perms = []
    for g, imp in enumerate(importance):
        keep = [counts[g] for counts in (model.counts(s) for s in model.subnets)]
        perms.append(importance_order(imp, keep))
    permute_channels(model, perms)
    return perms
