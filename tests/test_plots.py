"""Paper-ready plots: distinct series styles, readable log ticks, % accuracy, linear bars."""

import matplotlib.pyplot as plt
import pandas as pd

from pimsim.reports import plots


def _capture(monkeypatch) -> dict:
    """Replace ``plots.save_figure`` so figures stay open for inspection; returns name -> figure."""
    figures: dict = {}

    def keep(fig, out, name):
        figures[name] = fig
        return [out / name]

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_seventy_series_get_distinct_colour_and_marker():
    styles = {(plots.series_style(i)["color"], plots.series_style(i)["marker"])
              for i in range(70)}
    assert len(styles) == 70


def test_log_axis_labels_2_and_5_only_when_the_data_span_few_decades():
    fig, ax = plt.subplots()
    plots.log_axis(ax, "x", [0.3, 20])
    fmt = ax.xaxis.get_minor_formatter()
    assert (fmt(2, 0), fmt(5, 0), fmt(0.5, 0), fmt(3, 0)) == ("2", "5", "0.5", "")
    assert ax.xaxis.get_major_formatter()(100, 0) == "100"
    plots.log_axis(ax, "x", [0.01, 1000])
    assert ax.xaxis.get_minor_formatter()(2, 0) == ""
    plt.close(fig)


def test_technology_bars_are_linear_and_labelled(monkeypatch, tmp_path):
    figures = _capture(monkeypatch)
    table = pd.DataFrame({"subnet": ["a", "a", "b", "b"], "macs": [1, 1, 2, 2],
                          "technology": ["x", "y", "x", "y"],
                          "energy_per_image_uj": [1.0, 2.0, 30.0, 40.0]})
    plots.plot_technology(table, tmp_path)
    ax = figures["technology"].axes[0]
    assert ax.get_yscale() == "linear"
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "30", "40"]
    plt.close("all")


def test_measured_latency_shows_accuracy_in_percent(monkeypatch, tmp_path):
    figures = _capture(monkeypatch)
    (tmp_path / "latency.csv").write_text(
        "subnet,compute_device,batch,latency_per_image_ms,top1_pim\n"
        "w1,cpu,1,2.0,0.9\nw0.5,cpu,1,1.0,0.8\n")
    plots.plot_dir(tmp_path)
    ax = figures["measured_latency"].axes[0]
    assert "%" in ax.get_ylabel() and "top1_pim" in ax.get_ylabel()
    ys = sorted(y for c in ax.collections for _, y in c.get_offsets())
    assert ys == [80.0, 90.0]
    plt.close("all")
