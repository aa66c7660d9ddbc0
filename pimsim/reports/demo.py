"""``pimsim demo``: the whole pipeline on the bundled digits data, in a few minutes on 2 cores.

1. Train a dynamic resnet20 with the single-path method at MAC budgets 0.25/0.5/0.75/1.0 and
   8-bit quantization-aware training (``DIR/train/``).
2. Simulate every sub-net on the SOT-MRAM chip, bit-exact (``subnets.csv``, ``layers.csv``,
   ``summary.md``, ``config.json``).
3. Sweep 8/16 bits x SOT-MRAM/STT-MRAM/SRAM (``sweep.csv``).
4. Measure the CPU latency of every exported sub-net (``latency.csv``).
5. Plot (``pareto.png`` and the others, also as SVG) and print a short table.
Rerunning reuses finished steps (training and sweep resume).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pimsim.io import write_atomic
from pimsim.reports.latency import measure_latency
from pimsim.reports.plots import plot_dir
from pimsim.reports.sweep import SweepConfig, run_sweep
from pimsim.simulate import SimulateConfig, simulate, write_simulation
from pimsim.train import TrainConfig, load_checkpoint, run_training

DEVICES = ("sot_mram_45nm", "stt_mram_45nm", "sram_45nm")


def run_demo(out_dir: str | Path = "reports/demo", epochs: int = 15, limit: int | None = None,
             quiet: bool = False) -> pd.DataFrame:
    """Run the demo into ``out_dir``; returns the short summary table it prints."""
    out = Path(out_dir)
    run_training(TrainConfig(method="single-path", bits=8, epochs=epochs), out / "train",
                 resume=True, quiet=quiet)
    checkpoint = str(out / "train" / "model.pt")
    sim = simulate(SimulateConfig(checkpoint=checkpoint, limit=limit))
    write_simulation(sim, out)
    sweep = run_sweep(SweepConfig(checkpoint=checkpoint, bits=(8, 16), devices=DEVICES,
                                  limit=limit), out, quiet=quiet)
    model, meta = load_checkpoint(checkpoint)
    latency = measure_latency(model, tuple(meta["input_hw"]), "cpu", batch=1, repeats=20)
    # the accuracy the hardware delivers (bit-exact PIM), beside the measured CPU latency
    latency = latency.merge(sim.subnets[["subnet", "top1_pim"]].rename(
        columns={"top1_pim": "top1"}), on="subnet")
    write_atomic(out / "latency.csv", lambda p: latency.to_csv(p, index=False))
    plot_dir(out)
    energy = sweep[sweep.bits == 8].pivot_table(index="subnet", columns="technology",
                                                values="energy_per_image_uj")
    table = sim.subnets[["subnet", "macs", "top1_pim", "energy_per_image_uj", "latency_ns"]]
    table = table.merge(energy.add_prefix("uJ_8bit_").reset_index(), on="subnet")
    table = table.merge(latency[["subnet", "median_ms"]].rename(
        columns={"median_ms": "cpu_ms"}), on="subnet")
    return table.drop(columns="energy_per_image_uj")
