"""Pareto fronts and budget selection over sub-net tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pimsim.errors import PimsimError
from pimsim.reports.tables import require_columns


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
    """The non-dominated rows of ``table``, sorted by ``cost`` (both columns finite numbers)."""
    checked = require_columns(table, numeric=(cost, value))
    keep = pareto_mask(checked[cost].values, checked[value].values)
    return table[keep].iloc[np.argsort(checked[cost].values[keep], kind="stable")]


def select_within_budget(table: pd.DataFrame, budget: float, cost: str,
                         value: str = "top1") -> pd.Series:
    """The row with the highest ``value`` among those with ``cost <= budget`` (ties: the
    cheaper one). One-line error when none fits, and (naming the file) when ``subnet``,
    ``cost`` or ``value`` is missing, not a finite number, or the table has no row."""
    if not math.isfinite(budget):
        raise PimsimError(f"budget: must be a finite number, got {budget}")
    table = require_columns(table, numeric=(cost, value), text=("subnet",))
    fits = table[table[cost] <= budget]
    if fits.empty:
        raise PimsimError(f"budget: no sub-net fits {budget:g} ({cost}); "
                          f"the cheapest needs {table[cost].min():g}")
    return fits.sort_values([value, cost], ascending=[False, True]).iloc[0]
