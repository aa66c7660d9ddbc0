import numpy as np
import pandas as pd
import pytest

from pimsim.errors import PimsimError
from pimsim.reports.pareto import pareto_front, pareto_mask, select_within_budget


def test_pareto_on_hand_made_points():
    # (energy, accuracy): b dominates d (cheaper and better); e equals c: both kept
    points = pd.DataFrame({"name": list("abcde"), "energy": [1, 2, 4, 3, 4],
                           "top1": [0.80, 0.90, 0.95, 0.85, 0.95]})
    mask = pareto_mask(points.energy, points.top1)
    assert points.name[mask].tolist() == ["a", "b", "c", "e"]
    assert pareto_front(points, "energy", "top1").name.tolist() == ["a", "b", "c", "e"]
    assert pareto_mask(np.array([1.0]), np.array([0.5])).tolist() == [True]


def test_budget_selection_on_hand_made_table():
    table = pd.DataFrame({"subnet": ["s", "m", "l", "m2"], "latency_ms": [1.0, 2.0, 4.0, 2.0],
                          "top1": [0.90, 0.95, 0.97, 0.95]})
    assert select_within_budget(table, 2.5, "latency_ms").subnet == "m"
    assert select_within_budget(table, 10, "latency_ms").subnet == "l"
    assert select_within_budget(table, 1.0, "latency_ms").subnet == "s"
    with pytest.raises(PimsimError, match=r"no sub-net fits 0.5 \(latency_ms\); the cheapest "
                                          r"needs 1"):
        select_within_budget(table, 0.5, "latency_ms")
