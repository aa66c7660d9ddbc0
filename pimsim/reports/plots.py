"""``pimsim plot DIR``: paper-ready figures (PNG and SVG) from the CSVs in a result folder.

Reads whichever of ``sweep.csv``, ``subnets.csv``, ``layers.csv`` and ``latency.csv`` exist and
draws: ``pareto`` (energy per image against top-1, non-dominated points marked and labelled by
sub-net; against MACs when there is no accuracy), ``latency_accuracy``, ``area_memory`` (area
and weight memory per sub-net), ``layer_energy`` (per-layer energy by event kind of the widest
sub-net) and ``technology`` (energy per image by technology and sub-net).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "pimsim"  # deterministic SVG element ids
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pimsim.errors import PimsimError  # noqa: E402
from pimsim.io import write_atomic  # noqa: E402
from pimsim.mapper.cost import EVENTS, energy_column  # noqa: E402
from pimsim.reports.pareto import ACCURACY_COLUMNS, pareto_mask  # noqa: E402
from pimsim.reports.tables import read_table, require_columns, source  # noqa: E402

FORMATS = ("png", "svg")
ENERGY_KINDS = {energy_column(kind): kind.label for kind in EVENTS}


def save_figure(fig, out: Path, name: str) -> list[Path]:
    """``fig`` as ``out/NAME.png`` and ``.svg`` (written atomically, reproducible SVG), closed."""
    paths = []
    try:
        fig.tight_layout()
        for fmt in FORMATS:
            path = out / f"{name}.{fmt}"
            write_atomic(path, lambda p, fmt=fmt: fig.savefig(
                p, format=fmt, dpi=160, metadata={"Date": None} if fmt == "svg" else None))
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _series(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    keys = [k for k in ("technology", "bits") if k in table.columns and table[k].nunique() > 1]
    extra = [c for c in table.columns if "." in c]  # sweep axes: GROUP.KEY columns
    keys += [c for c in extra if table[c].nunique() > 1]
    if not keys:
        return [("", table)]
    out = []
    for values, group in table.groupby(keys, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        named = {"technology": "{v}", "bits": "{v} bit"}
        out.append((", ".join(named.get(k, "{k}={v}").format(k=k, v=v)
                              for k, v in zip(keys, values, strict=True)), group))
    return out


# Series style: colour i mod 10, marker i mod 7 (coprime), so 70 series stay distinct.
COLOURS = matplotlib.colormaps["tab10"].colors
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def series_style(i: int) -> dict:
    """Colour and marker of the ``i``-th series."""
    return {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[i % len(MARKERS)]}


def _label_points(ax, xs, ys, names) -> None:
    """Label the front's points above and left of each: a front rises to the right, so the
    labels clear the neighbouring front points and the other series' points beside them."""
    for x, y, name in zip(xs, ys, names, strict=True):
        ax.annotate(name, (x, y), xytext=(-5, 6), textcoords="offset points", fontsize=7,
                    ha="right", va="bottom")


def log_axis(ax, which: str, values) -> None:
    """Log scale with plain numbers: decades labelled, and the 2 and 5 between them too when
    the data span less than two decades (otherwise a decade would hold one label or none)."""
    lo, hi = float(min(values)), float(max(values))
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    few = hi / lo < 100

    def minor(v: float, _pos: int) -> str:
        mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
        return f"{v:g}" if few and any(abs(mantissa - m) < 1e-6 for m in (2, 5)) else ""

    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(matplotlib.ticker.LogLocator(base=10, subs=tuple(range(2, 10))))
    axis.set_minor_formatter(matplotlib.ticker.FuncFormatter(minor))
    axis.set_tick_params(which="both", labelsize=8)


def plot_tradeoff(table: pd.DataFrame, x: str, xlabel: str, y: str, ylabel: str, out: Path,
                  name: str, title: str) -> list[Path]:
    """Scatter of every series (distinct colour and marker); the non-dominated points (min x,
    max y) joined and labelled; x on a log axis."""
    table = table[table[x].notna()]
    front = pareto_mask(table[x].values, table[y].values)
    series = _series(table)
    many = len(series) > 8  # legend under the axes, in columns
    fig, ax = plt.subplots(figsize=(8, 4.2 + 0.16 * len(series) if many else 4.2))
    for i, (label, group) in enumerate(series):
        ax.scatter(group[x], group[y], s=22, alpha=0.75, label=label or "sub-nets",
                   **series_style(i))
    best = table[front].sort_values(x)
    ax.plot(best[x], best[y], "k-", lw=1, marker="o", mfc="none", ms=10, label="Pareto front")
    of = {i: label for label, group in series for i in group.index}
    subnets = best.subnet.astype(str).tolist()
    names = [f"{n} ({of[i]})" if of[i] and subnets.count(n) > 1 else n  # a sub-net twice
             for n, i in zip(subnets, best.index, strict=True)]
    _label_points(ax, best[x].values, best[y].values, names)
    log_axis(ax, "x", table[x].values)
    ax.margins(x=0.12, y=0.12)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if many:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
                  borderaxespad=0)
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save_figure(fig, out, name)


def plot_area_memory(subnets: pd.DataFrame, out: Path) -> list[Path]:
    s = subnets.sort_values("macs")
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.4))
    bars = a.bar(s.subnet, s.area_mm2, color=COLOURS[0])
    a.bar_label(bars, fmt="%.3g", fontsize=7)
    a.set_ylabel("area used (mm$^2$)")
    a.set_title(f"family chip area {s.family_area_mm2.iloc[0]:.2f} mm$^2$", fontsize=9)
    bars = b.bar(s.subnet, s.weight_bits / 8 / 1024, color=COLOURS[1])
    b.bar_label(bars, fmt="%.3g", fontsize=7)
    b.set_ylabel("weight memory (KiB)")
    for axis in (a, b):
        axis.set_xlabel("sub-net (narrow to wide)")
        axis.tick_params(axis="x", rotation=30, labelsize=8)
        axis.margins(y=0.12)
    return save_figure(fig, out, "area_memory")


def plot_layer_energy(layers: pd.DataFrame, out: Path) -> list[Path]:
    widest = layers.groupby("subnet").macs.sum().idxmax()
    t = layers[layers.subnet == widest]
    kinds = [k for k in ENERGY_KINDS if k in t.columns and t[k].sum() > 0]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(t)), 4))
    bottom = None
    for kind in kinds:
        values = t[kind].values * 1e-6
        ax.bar(range(len(t)), values, bottom=bottom, label=ENERGY_KINDS[kind])
        bottom = values if bottom is None else bottom + values
    ax.set_xticks(range(len(t)), t.layer, rotation=70, fontsize=6, ha="right")
    ax.set_ylabel("energy per image (uJ)")
    ax.set_title(f"per-layer energy, sub-net {widest}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save_figure(fig, out, "layer_energy")


def plot_technology(table: pd.DataFrame, out: Path) -> list[Path]:
    t = table[table.energy_per_image_uj.notna()]
    pivot = t.groupby(["subnet", "technology"]).energy_per_image_uj.min().unstack()
    pivot = pivot.loc[t.groupby("subnet").macs.first().sort_values().index]
    ax = pivot.plot.bar(figsize=(7, 4), rot=0, width=0.8,
                        color=[COLOURS[i % len(COLOURS)] for i in range(pivot.shape[1])])
    for bars in ax.containers:
        ax.bar_label(bars, fmt="%.3g", fontsize=6, rotation=90, padding=2)
    ax.margins(y=0.15)
    ax.set_xlabel("sub-net (narrow to wide)")
    ax.set_ylabel("energy per image (uJ, best over the sweep)")
    ax.set_title("SOT-MRAM vs STT-MRAM vs SRAM", fontsize=10)
    ax.legend(title="technology", fontsize=8)
    return save_figure(ax.figure, out, "technology")


def _stderr(note: str) -> None:
    print(f"note: {note}", file=sys.stderr)


def _feasible(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of points the chip can hold (``infeasible`` empty)."""
    if "infeasible" not in table.columns:
        return table
    ok = table[table.infeasible.isna() | (table.infeasible.astype(str) == "")]
    ok.attrs["source"] = source(table)
    return ok


def _trade(table: pd.DataFrame, x: tuple[str, str, float], y: tuple[str, str, float],
           xlabel: str, ylabel: str, out: Path, name: str, title: str) -> list[Path]:
    """:func:`plot_tradeoff` of the feasible rows; ``x``, ``y``: (column drawn, column of
    the table, scale)."""
    feasible = _feasible(table)
    if feasible.empty and not table.empty:
        raise PimsimError(f"{source(table)}: every point is infeasible (first: "
                          f"{table.infeasible.iloc[0]})")
    t = require_columns(feasible, numeric=(x[1], y[1]), text=("subnet",))
    if not (t[x[1]] > 0).all():
        row = int((t[x[1]] <= 0).to_numpy().argmax())
        raise PimsimError(f"{source(table)}: column {x[1]!r}: {t[x[1]].iloc[row]:g} is not > 0 "
                          "(a log axis)")
    t = t.assign(**{x[0]: t[x[1]] * x[2], y[0]: t[y[1]] * y[2]})
    return plot_tradeoff(t, x[0], xlabel, y[0], ylabel, out, name, title)


def _figures(tables: dict[str, pd.DataFrame], out: Path) -> list[tuple[str, Callable]]:
    """``(figure, draw)`` pairs: every figure the tables could give; ``draw()`` checks the
    columns it needs (one-line error naming the file and column) and writes the figure."""
    figures: list[tuple[str, Callable]] = []
    main = tables.get("sweep", tables.get("subnets"))
    if main is not None:
        acc = next((c for c in ACCURACY_COLUMNS if c in main.columns), None)
        energy = ("energy_per_image_uj", "energy_per_image_uj", 1)
        if acc is not None:
            top1 = ("top1_pct", acc, 100)
            figures += [
                ("pareto", lambda: _trade(main, energy, top1, "energy per image (uJ)",
                                          f"top-1 accuracy (%, {acc})", out, "pareto",
                                          "energy-accuracy trade-off")),
                ("latency_accuracy", lambda: _trade(
                    main, ("latency_ms", "latency_ns", 1e-6), top1,
                    "PIM latency per image (ms)", f"top-1 accuracy (%, {acc})", out,
                    "latency_accuracy",
                    "latency-accuracy trade-off"))]
        else:
            figures.append(("pareto", lambda: _trade(
                main, energy, ("gmacs", "macs", 1e-9), "energy per image (uJ)",
                "GMACs per image", out, "pareto", "energy against compute (no accuracy)")))
        feasible = _feasible(main)
        if "technology" in main.columns and feasible.technology.nunique() > 1:
            figures.append(("technology", lambda: plot_technology(require_columns(
                feasible, numeric=(energy[0], "macs"), text=("subnet", "technology")), out)))
    if "subnets" in tables:
        figures.append(("area_memory", lambda: plot_area_memory(require_columns(
            tables["subnets"], numeric=("macs", "area_mm2", "family_area_mm2", "weight_bits"),
            text=("subnet",)), out)))
    if "layers" in tables:
        layers = tables["layers"]
        kinds = tuple(k for k in ENERGY_KINDS if k in layers.columns)
        figures.append(("layer_energy", lambda: plot_layer_energy(require_columns(
            layers, numeric=("macs", *kinds), text=("subnet", "layer")), out)))
    lat_acc = next((c for c in ACCURACY_COLUMNS if c in tables.get("latency", {})), None)
    if lat_acc is not None:
        def measured() -> list[Path]:
            lat = require_columns(tables["latency"],
                                  numeric=("latency_per_image_ms", lat_acc),
                                  text=("subnet", "compute_device", "batch"))
            lat = lat.assign(top1_pct=100 * lat[lat_acc])
            return plot_tradeoff(lat, "latency_per_image_ms", "measured latency per image (ms)",
                                 "top1_pct", f"top-1 accuracy (%, {lat_acc})", out,
                                 "measured_latency", f"measured on {lat.compute_device.iloc[0]}"
                                 f", batch {lat.batch.iloc[0]}")
        figures.append(("measured_latency", measured))
    return figures


def plot_dir(path: str | Path, note: Callable[[str], None] = _stderr) -> list[Path]:
    """Draw every figure the folder's CSVs allow; returns the files written. A figure whose
    table lacks a column it needs (or holds text, NaN or no feasible row there) is skipped
    with a ``note`` naming the file and column; nothing drawable at all is one error with
    every reason."""
    out = Path(path)
    names = ("sweep", "subnets", "layers", "latency")
    tables = {n: read_table(out / f"{n}.csv") for n in names if (out / f"{n}.csv").is_file()}
    if not tables:
        raise PimsimError(f"{out}: no sweep.csv, subnets.csv, layers.csv or latency.csv to plot")
    written: list[Path] = []
    skipped: list[str] = []
    for figure, draw in _figures(tables, out):
        try:
            written += draw()
        except PimsimError as exc:
            skipped.append(f"{figure}: {exc}")
    if not written:
        raise PimsimError(f"{out}: nothing to plot ({'; '.join(skipped) or 'no figure applies'})")
    for reason in skipped:
        note(f"skipped {reason}")
    return written
