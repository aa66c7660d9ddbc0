"""``DynamicRunner``: switch sub-nets at run time as the latency or energy budget changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from torch import Tensor

from pimsim.errors import PimsimError
from pimsim.network import DynamicNet
from pimsim.reports.pareto import accuracy_column, select_within_budget
from pimsim.reports.tables import require_columns


class DynamicRunner:
    """Runs ``model`` in the most accurate sub-net that fits the current budget.

    ``table`` has one row per sub-net with ``subnet``, an accuracy column (``accuracy``;
    default: the first of ``top1_pim``, ``top1_int``, ``top1_fakequant``, ``top1_float``) and
    the cost columns budgets refer to (``latency_per_image_ms`` measured by ``pimsim latency``,
    ``energy_per_image_uj`` simulated by ``pimsim simulate``). Switching is
    ``model.set_subnet``: no weight is copied or reloaded.
    """

    COSTS = {"latency_ms": "latency_per_image_ms", "energy_uj": "energy_per_image_uj"}

    def __init__(self, model: DynamicNet, table: pd.DataFrame,
                 accuracy: str | None = None) -> None:
        table = require_columns(table, text=("subnet",))
        accuracy = accuracy or accuracy_column(table)
        missing = {n for n in table.subnet} - {s.name for s in model.subnets}
        if missing:
            raise PimsimError(f"table: sub-net {sorted(missing)[0]!r} is not in the model")
        self.model, self.table, self.accuracy = model, table, accuracy
        self.model.eval()

    def set_budget(self, latency_ms: float | None = None, energy_uj: float | None = None) -> str:
        """Switch to the most accurate sub-net within every given budget (``latency_ms`` per
        image, ``energy_uj`` per image); returns its name."""
        budgets = {"latency_ms": latency_ms, "energy_uj": energy_uj}
        given = {k: v for k, v in budgets.items() if v is not None}
        if not given:
            raise PimsimError("budget: give latency_ms or energy_uj")
        table = require_columns(self.table, numeric=[self.COSTS[k] for k in given])
        for key, value in list(given.items())[:-1]:
            table = table[table[self.COSTS[key]] <= value]
            if table.empty:
                raise PimsimError(f"budget: no sub-net fits {key} <= {value:g}")
        key, value = list(given.items())[-1]
        row = select_within_budget(table, value, self.COSTS[key], self.accuracy)
        self.model.set_subnet(row.subnet)
        return str(row.subnet)

    def set_error_budget(self, faults: pd.DataFrame, at: Mapping[str, Any],
                         min_top1: float) -> str:
        """Switch to the cheapest sub-net (energy per image) whose mean top-1 on the faulty
        chip at the point ``at`` of ``faults`` (a ``faults.csv`` of ``pimsim faults``) is at
        least ``min_top1``; returns its name."""
        from pimsim.reports.faults import select_under_error_budget

        row = select_under_error_budget(faults, at, min_top1)
        self.model.set_subnet(row.subnet)
        return str(row.subnet)

    def __call__(self, x: Tensor) -> Tensor:
        return self.model(x)
