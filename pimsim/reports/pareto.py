"""Pareto fronts and budget selection over sub-net tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pimsim.errors import PimsimError
from pimsim.reports.tables import require_columns, source

# Accuracy columns, the one the hardware delivers first (the column vocabulary, columns.py).
ACCURACY_COLUMNS = ("top1_pim", "top1_int", "top1_fakequant", "top1_float")


def accuracy_column(table: pd.DataFrame) -> str:
    """The first of :data:`ACCURACY_COLUMNS` that ``table`` has; one-line error if none."""
    for column in ACCURACY_COLUMNS:
        if column in table.columns:
            return column
    raise PimsimError(f"{source(table)}: no accuracy column (one of "
                      f"{', '.join(ACCURACY_COLUMNS)})")


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
                         value: str | None = None) -> pd.Series:
    """The row with the highest ``value`` (default: :func:`accuracy_column`) among those with
    ``cost <= budget`` (ties: the cheaper one). One-line error when none fits, and (naming the
    file) when ``subnet``, ``cost`` or ``value`` is missing, not a finite number, or the table
    has no row."""
    if not math.isfinite(budget):
        raise PimsimError(f"budget: must be a finite number, got {budget}")
    table = require_columns(table, numeric=(cost,), text=("subnet",))
    value = value or accuracy_column(table)
    table = require_columns(table, numeric=(value,))
    fits = table[table[cost] <= budget]
    if fits.empty:
        raise PimsimError(f"budget: no sub-net fits {budget:g} ({cost}); "
                          f"the cheapest needs {table[cost].min():g}")
    return fits.sort_values([value, cost], ascending=[False, True]).iloc[0]
