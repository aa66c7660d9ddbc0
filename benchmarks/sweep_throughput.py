"""Cost-only sweep throughput: resnet18 at 224x224 (rows of sweep.csv per second).

Run: ``.venv/bin/python benchmarks/sweep_throughput.py``. Sweeps 4 widths x 2 precisions x
3 technologies x chip.rows {128, 256, 512} x chip.clock_ghz {0.5, 1, 2} (216 rows) with 1 and
with 2 processes, from scratch each time, and prints rows per second and the speed-up of 2
processes over 1 measured in the same run. Target: at least 200 rows (points) per second.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pimsim.reports.sweep import SweepConfig, run_sweep


def main() -> None:
    axes = {"chip.rows": [128, 256, 512], "chip.clock_ghz": [0.5, 1.0, 2.0]}
    rates = {}
    for jobs in (1, 2):
        cfg = SweepConfig(cost_only=True, model="resnet18", input_size=224, bits=[8, 16],
                          devices=["sot_mram_45nm", "stt_mram_45nm", "sram_45nm"], axes=axes,
                          jobs=jobs)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            table = run_sweep(cfg, Path(tmp) / "sweep", quiet=True)
            elapsed = time.perf_counter() - t
        rates[jobs] = len(table) / elapsed
        print(f"jobs={jobs}: {len(table)} rows in {elapsed:.2f} s = {rates[jobs]:.0f} rows/s")
    print(f"2 processes / 1 process: {rates[2] / rates[1]:.2f}x; target >= 200 rows/s: "
          f"{'met' if max(rates.values()) >= 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
