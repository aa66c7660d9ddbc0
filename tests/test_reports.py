import numpy as np
import pandas as pd
import pytest

from pimsim.errors import PimsimError
from pimsim.mapper.cost import EVENTS, energy_column
from pimsim.reports import plots
from pimsim.reports.pareto import pareto_front, pareto_mask, select_within_budget
from pimsim.simulate import SimulateConfig, simulate, write_simulation


def test_pareto_on_hand_made_points():
    # (energy, accuracy): b dominates d (cheaper and better); e equals c: both kept
    points = pd.DataFrame({"name": list("abcde"), "energy": [1, 2, 4, 3, 4],
                           "top1_float": [0.80, 0.90, 0.95, 0.85, 0.95]})
    mask = pareto_mask(points.energy, points.top1_float)
    assert points.name[mask].tolist() == ["a", "b", "c", "e"]
    assert pareto_front(points, "energy", "top1_float").name.tolist() == ["a", "b", "c", "e"]
    assert pareto_mask(np.array([1.0]), np.array([0.5])).tolist() == [True]


def test_budget_selection_on_hand_made_table():
    table = pd.DataFrame({"subnet": ["s", "m", "l", "m2"], "latency_ms": [1.0, 2.0, 4.0, 2.0],
                          "top1_float": [0.90, 0.95, 0.97, 0.95]})
    assert select_within_budget(table, 2.5, "latency_ms").subnet == "m"
    assert select_within_budget(table, 10, "latency_ms").subnet == "l"
    assert select_within_budget(table, 1.0, "latency_ms").subnet == "s"
    with pytest.raises(PimsimError, match=r"no sub-net fits 0.5 \(latency_ms\); the cheapest "
                                          r"needs 1"):
        select_within_budget(table, 0.5, "latency_ms")


def test_layer_energy_plot_stacks_every_nonzero_event_of_the_table(tmp_path, monkeypatch):
    sim = simulate(SimulateConfig(cost_only=True, model="resnet20", input_size=8, num_classes=10,
                                  widths=[0.5, 1.0], device_params="sram_45nm"))
    out = write_simulation(sim, tmp_path / "sim")
    layers = pd.read_csv(out / "layers.csv")
    energy = [c for c in layers.columns if c.startswith("energy_") and c != "energy_pj"]
    assert energy == list(plots.ENERGY_KINDS) == [energy_column(k) for k in EVENTS]
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, _out, name: figures.append(fig) or [name])
    plots.plot_layer_energy(layers, out)
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    widest = layers[layers.subnet == "w1"]
    assert legend == [k.label for k in EVENTS if widest[energy_column(k)].sum() > 0]
    assert "leakage of powered sub-arrays" in legend and "AND2 senses" in legend
    bars = sum(p.get_height() for p in figures[0].axes[0].patches)
    assert bars == pytest.approx(widest.energy_pj.sum() * 1e-6, rel=1e-9)
    plots.plt.close(figures[0])
