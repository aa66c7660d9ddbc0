"""``pimsim plot DIR``: paper-ready figures (PNG and SVG) from the CSVs in a result folder.

Reads whichever of ``sweep.csv``, ``subnets.csv``, ``layers.csv`` and ``latency.csv`` exist and
draws: ``pareto`` (energy per image against top-1, non-dominated points marked and labelled by
sub-net; against MACs when there is no accuracy), ``latency_accuracy``, ``area_memory`` (area
and weight memory per sub-net), ``layer_energy`` (per-layer energy by event kind of the widest
sub-net) and ``technology`` (energy per image by technology and sub-net).
"""

from __future__ import annotations

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
from pimsim.reports.pareto import pareto_mask  # noqa: E402
from pimsim.reports.tables import read_table  # noqa: E402

FORMATS = ("png", "svg")
ENERGY_KINDS = {energy_column(kind): kind.label for kind in EVENTS}


def _save(fig, out: Path, name: str) -> list[Path]:
    fig.tight_layout()
    paths = []
    for fmt in FORMATS:
        path = out / f"{name}.{fmt}"
        write_atomic(path, lambda p, fmt=fmt: fig.savefig(  # no 0-byte file on a full disk
            p, format=fmt, dpi=160, metadata={"Date": None} if fmt == "svg" else None))
        paths.append(path)
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
        out.append((", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)), group))
    return out


def _label_points(ax, xs, ys, names) -> None:
    """Label points with alternating offsets so neighbours do not overlap."""
    for i, (x, y, name) in enumerate(sorted(zip(xs, ys, names, strict=True))):
        ax.annotate(name, (x, y), xytext=(6, 8 if i % 2 == 0 else -12),
                    textcoords="offset points", fontsize=7)


def plot_tradeoff(table: pd.DataFrame, x: str, xlabel: str, y: str, ylabel: str, out: Path,
                  name: str, title: str) -> list[Path]:
    """Scatter of every series; the non-dominated points (min x, max y) joined and labelled."""
    table = table[table[x].notna()]
    front = pareto_mask(table[x].values, table[y].values)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for label, group in _series(table):
        ax.scatter(group[x], group[y], s=18, alpha=0.6, label=label or "sub-nets")
    best = table[front].sort_values(x)
    ax.plot(best[x], best[y], "k-", lw=1, marker="o", mfc="none", ms=9, label="Pareto front")
    _label_points(ax, best[x].values, best[y].values, best.subnet.values)
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.margins(x=0.12, y=0.12)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _save(fig, out, name)


def plot_area_memory(subnets: pd.DataFrame, out: Path) -> list[Path]:
    s = subnets.sort_values("macs")
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.4))
    a.bar(s.subnet, s.area_mm2, color="tab:blue")
    a.set_ylabel("area used (mm$^2$)")
    a.set_title(f"family chip area {s.family_area_mm2.iloc[0]:.2f} mm$^2$", fontsize=9)
    b.bar(s.subnet, s.weight_bits / 8 / 1024, color="tab:orange")
    b.set_ylabel("weight memory (KiB)")
    for axis in (a, b):
        axis.set_xlabel("sub-net (narrow to wide)")
        axis.tick_params(axis="x", rotation=30, labelsize=8)
    return _save(fig, out, "area_memory")


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
    return _save(fig, out, "layer_energy")


def plot_technology(table: pd.DataFrame, out: Path) -> list[Path]:
    t = table[table.energy_per_image_uj.notna()]
    pivot = t.groupby(["subnet", "technology"]).energy_per_image_uj.min().unstack()
    pivot = pivot.loc[t.groupby("subnet").macs.first().sort_values().index]
    ax = pivot.plot.bar(figsize=(6.5, 4), logy=True, rot=0)
    ax.set_xlabel("sub-net (narrow to wide)")
    ax.set_ylabel("energy per image (uJ, best over the sweep)")
    ax.set_title("SOT-MRAM vs STT-MRAM vs SRAM", fontsize=10)
    ax.legend(title="technology", fontsize=8)
    return _save(ax.figure, out, "technology")


def plot_dir(path: str | Path) -> list[Path]:
    """Draw every figure the folder's CSVs allow; returns the files written."""
    out = Path(path)
    names = ("sweep", "subnets", "layers", "latency")
    tables = {n: read_table(out / f"{n}.csv") for n in names if (out / f"{n}.csv").is_file()}
    if not tables:
        raise PimsimError(f"{out}: no sweep.csv, subnets.csv, layers.csv or latency.csv to plot")
    written: list[Path] = []
    main = tables.get("sweep", tables.get("subnets"))
    if main is not None:
        if "infeasible" in main.columns:
            main = main[main.infeasible.isna() | (main.infeasible == "")]
        acc = next((c for c in ("top1_pim", "top1", "top1_int") if c in main.columns), None)
        if acc is not None:
            main = main.assign(top1_pct=100 * main[acc])
            written += plot_tradeoff(main, "energy_per_image_uj", "energy per image (uJ)",
                                     "top1_pct", "top-1 accuracy (%)", out, "pareto",
                                     "energy-accuracy trade-off")
            written += plot_tradeoff(main.assign(latency_ms=main.latency_ns * 1e-6),
                                     "latency_ms", "PIM latency per image (ms)", "top1_pct",
                                     "top-1 accuracy (%)", out, "latency_accuracy",
                                     "latency-accuracy trade-off")
        else:
            written += plot_tradeoff(main.assign(gmacs=main.macs * 1e-9), "energy_per_image_uj",
                                     "energy per image (uJ)", "gmacs", "GMACs per image", out,
                                     "pareto", "energy against compute (no accuracy)")
        if "technology" in main.columns and main.technology.nunique() > 1:
            written += plot_technology(main, out)
    if "subnets" in tables:
        written += plot_area_memory(tables["subnets"], out)
    if "layers" in tables:
        written += plot_layer_energy(tables["layers"], out)
    if "latency" in tables and "top1" in tables["latency"].columns:
        lat = tables["latency"]
        written += plot_tradeoff(lat, "median_ms", "measured latency per batch (ms)", "top1",
                                 "top-1 accuracy", out, "measured_latency",
                                 f"measured on {lat.device.iloc[0]}, batch {lat.batch.iloc[0]}")
    return written
