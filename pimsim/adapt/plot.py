"""The adaptation plot: test top-1 against measured training activation memory."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_memory_accuracy(table: pd.DataFrame, path: Path) -> None:
    """One marker per (method, domain): x = saved-tensor KiB (log), y = top-1 in %."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    markers = "osD^v<>p*h"
    for i, (method, rows) in enumerate(table.groupby("method", sort=False)):
        ax.scatter(rows["saved_tensor_bytes"] / 1024, 100 * rows["top1_float"],
                   marker=markers[i % len(markers)], label=method, s=36)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("training activation memory (saved tensors, KiB per batch)")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(f"Adaptation on {table['domain'].nunique()} domains "
                 f"(batch {int(table['batch_size'].iloc[0])})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
