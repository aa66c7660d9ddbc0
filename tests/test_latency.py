"""Measured latency: per-image and per-batch columns, repeats until quiet, the noisy flag."""

import pandas as pd
import pytest

from pimsim.network import DynamicNet, SubnetSpec
from pimsim.reports import latency as latency_module
from pimsim.reports.latency import measure_latency, round_stats


def _model() -> DynamicNet:
    return DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.25)])


def test_round_stats_on_hand_made_times():
    stats = round_stats([4.0, 1.0, 2.0, 3.0, 5.0])
    assert stats["latency_per_batch_ms"] == 3.0
    assert (stats["latency_min_per_batch_ms"], stats["latency_max_per_batch_ms"]) == (1.0, 5.0)
    assert stats["latency_iqr_per_batch_ms"] == pytest.approx(4.5 - 1.5)
    assert stats["spread"] == pytest.approx(3.0 / 3.0)


def test_noisy_rows_repeat_then_are_flagged_with_a_warning(monkeypatch):
    # every other run is 10x slower: the spread never falls within the tolerance
    times = iter([1.0, 10.0] * 1000)
    monkeypatch.setattr(latency_module, "_timed", lambda fn, device: next(times))
    notes: list[str] = []
    lat = measure_latency(_model(), (8, 8), batch=4, repeats=4, warmup=0, tolerance=0.1,
                          max_rounds=3, note=notes.append)
    assert lat.noisy.all() and (lat.repeats == 12).all()
    assert len(notes) == 2 and notes[0].startswith("warning: latency of w1 is noisy")
    assert "after 3 rounds of 4 runs" in notes[0] and "\n" not in notes[0]


def test_a_quiet_round_stops_the_repeats(monkeypatch):
    times = iter([10.0, 1.0, 10.0, 1.0] + [2.0] * 1000)  # first round noisy, then steady
    monkeypatch.setattr(latency_module, "_timed", lambda fn, device: next(times))
    notes: list[str] = []
    lat = measure_latency(_model(), (8, 8), batch=4, repeats=4, warmup=0, max_rounds=5,
                          note=notes.append)
    assert notes == [] and not lat.noisy.any()
    assert lat.repeats.tolist() == [8, 4]
    assert (lat.latency_per_batch_ms == 2.0).all() and (lat.latency_per_image_ms == 0.5).all()
    assert list(lat.columns[:7]) == ["subnet", "compute_device", "batch", "threads", "repeats",
                                     "latency_per_batch_ms", "latency_per_image_ms"]
    assert isinstance(lat, pd.DataFrame) and (lat.spread == 0).all()
