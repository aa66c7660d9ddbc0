"""Pareto fronts and budget selection over sub-net tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pimsim.errors import PimsimError


def pareto_mask(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """True for points no other point dominates (cost <= and value >=, one strictly).

    Minimise ``cost``, maximise ``value``; duplicates of a non-dominated point are all kept.
    """
    cost, value = np.asarray(cost, dtype=float), np.asarray(value, dtype=float)
    keep = np.ones(len(cost), dtype=bool)
    for i in range(len(cost)):
        dominated = (cost <= cost[i]) & (value >= value[i]) & \
            ((cost < cost[i]) | (value > value[i]))
        keep[i] = not dominated.any()
    return keep


def pareto_front(table: pd.DataFrame, cost: str, value: str) -> pd.DataFrame:
    """The non-dominated rows of ``table``, sorted by ``cost``."""
    for col in (cost, value):
        if col not in table.columns:
            raise PimsimError(f"table: missing column {col!r}")
    return table[pareto_mask(table[cost].values, table[value].values)].sort_values(cost)


def select_within_budget(table: pd.DataFrame, budget: float, cost: str,
                         value: str = "top1") -> pd.Series:
    """The row with the highest ``value`` among those with ``cost <= budget`` (ties: the
    cheaper one). One-line error when none fits."""
    for col in (cost, value):
        if col not in table.columns:
            raise PimsimError(f"table: missing column {col!r}")
    fits = table[table[cost] <= budget]
    if fits.empty:
        raise PimsimError(f"budget: no sub-net fits {budget:g} ({cost}); the cheapest needs "
                          f"{table[cost].min():g}")
    return fits.sort_values([value, cost], ascending=[False, True]).iloc[0]
