"""Turning compute budgets (fractions of the full model's MACs) into sub-net specs."""

from __future__ import annotations

import heapq

from torch import Tensor

from pimsim.network import MacModel, SubnetSpec


def budget_name(budget: float) -> str:
    """Name of the sub-net that meets a MAC budget, e.g. ``b0.25``."""
    return f"b{budget:g}"


def uniform_spec_for_budget(widths: tuple[int, ...], macs: MacModel, budget: float,
                            name: str | None = None) -> SubnetSpec:
    """The widest uniform ratio r whose sub-net has at most ``budget`` x the full MACs.

    MACs grow monotonically with r, so a bisection over r in (0, 1] finds it; r = 1 for a
    budget of 1.
    """
    target = budget * macs.macs(widths)
    if budget >= 1.0:
        return SubnetSpec(name or f"w{1.0:g}", ratio=1.0)
    lo, hi = 1e-6, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if macs.macs(SubnetSpec("probe", ratio=mid).resolve(widths)) <= target:
            lo = mid
        else:
            hi = mid
    ratio = round(lo, 4)
    while macs.macs(SubnetSpec("probe", ratio=ratio).resolve(widths)) > target and ratio > 1e-4:
        ratio = round(ratio - 1e-4, 4)
    return SubnetSpec(name or f"w{ratio:g}", ratio=ratio)


def prune_to_budget(macs: MacModel, upper: tuple[int, ...], importance: list[Tensor],
                    target_macs: float,
                    min_channels: int | tuple[int, ...] = 1) -> tuple[int, ...]:
    """Per-group counts, at most ``upper`` and at least ``min_channels`` (one for all groups
    or one per group), whose MACs fit ``target_macs`` as far as those floors allow.

    Greedy global ranking (network-slimming style, Liu et al. ICCV 2017): repeatedly drop the
    last channel of the group whose last kept channel has the lowest *normalised* importance
    (importance divided by the mean importance of the group's channels within ``upper``, so
    groups of different fan-in compare fairly). Channels must already be ordered by importance
    within each group's prefix, so dropping the last keeps the most important ones.
    """
    counts = list(upper)
    floor = (min_channels,) * len(counts) if isinstance(min_channels, int) else min_channels
    scale = [float(imp[:c].mean()) or 1.0 for imp, c in zip(importance, counts, strict=True)]
    heap = [(float(importance[g][counts[g] - 1]) / scale[g], g) for g in range(len(counts))
            if counts[g] > floor[g]]
    heapq.heapify(heap)
    while macs.macs(counts) > target_macs and heap:
        _, g = heapq.heappop(heap)
        counts[g] -= 1
        if counts[g] > floor[g]:
            heapq.heappush(heap, (float(importance[g][counts[g] - 1]) / scale[g], g))
    return tuple(counts)
