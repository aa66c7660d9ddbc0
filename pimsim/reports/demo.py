"""``pimsim demo``: the whole pipeline on the bundled digits data, in a minute or two on 2 cores.

1. Train a dynamic resnet20 with the single-path method at the MAC budgets of :data:`BUDGETS`
   and 8-bit quantization-aware training (``DIR/train/``).
2. Simulate every sub-net on the SOT-MRAM chip, bit-exact (``subnets.csv``, ``layers.csv``,
   ``summary.md``, ``config.json``).
3. Sweep 8/16 bits x SOT-MRAM/STT-MRAM/SRAM (``sweep.csv``).
4. Measure the CPU latency of every exported sub-net (``latency.csv``).
5. Plot (``pareto.png`` and the others, also as SVG) and print a short table.
Rerunning reuses finished steps (training and sweep resume).

The setting is chosen so the trade-off shows: on digits, sub-nets of 25 % of the MACs and more
are as accurate as the full model (8x8 images need little width), so the budgets reach down
to a few per cent of the MACs (two to five channels per layer), where accuracy falls well
beyond run-to-run noise, and the energy-accuracy Pareto front holds every sub-net.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from pimsim.io import write_atomic
from pimsim.reports.latency import measure_latency
from pimsim.reports.plots import plot_dir
from pimsim.reports.sweep import SweepConfig, run_sweep
from pimsim.simulate import SimulateConfig, simulate, write_simulation
from pimsim.train import TrainConfig, load_checkpoint, run_training

DEVICES = ("sot_mram_45nm", "stt_mram_45nm", "sram_45nm")
BUDGETS = (0.03, 0.1, 0.3, 1.0)
EPOCHS = 8
TRAIN_THREADS = 1
TITLE = (f"dynamic resnet20 on digits: single-path sub-nets at {', '.join(map(str, BUDGETS))} "
         "of the MACs, 8-bit, simulated on SOT-MRAM")


def run_demo(out_dir: str | Path = "reports/demo", epochs: int = EPOCHS,
             limit: int | None = None, quiet: bool = False) -> pd.DataFrame:
    """Run the demo into ``out_dir``; returns the short summary table it prints
    (:func:`demo_table`, with the measured CPU latency per image as ``cpu_latency_ms``).
    Training runs on ``TRAIN_THREADS`` thread(s) whatever the machine (or ``OMP_NUM_THREADS``)
    offers, so the demo's numbers are the same on every machine."""
    out = Path(out_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)  # float sums depend on the thread count
    try:
        run_training(TrainConfig(method="single-path", bits=8, epochs=epochs, budgets=BUDGETS),
                     out / "train", resume=True, quiet=quiet)
    finally:
        torch.set_num_threads(threads)
    checkpoint = str(out / "train" / "model.pt")
    sim = simulate(SimulateConfig(checkpoint=checkpoint, limit=limit))
    write_simulation(sim, out)
    run_sweep(SweepConfig(checkpoint=checkpoint, bits=(8, 16), devices=DEVICES, limit=limit),
              out, quiet=quiet)
    model, meta = load_checkpoint(checkpoint)
    latency = measure_latency(model, tuple(meta["input_hw"]), "cpu", batch=1, repeats=20)
    # the accuracy the hardware delivers (bit-exact PIM), beside the measured CPU latency
    latency = latency.merge(sim.subnets[["subnet", "top1_pim"]], on="subnet")
    write_atomic(out / "latency.csv", lambda p: latency.to_csv(p, index=False))
    plot_dir(out)
    cpu = latency[["subnet", "latency_per_image_ms"]].rename(
        columns={"latency_per_image_ms": "cpu_latency_ms"})
    return demo_table(out).merge(cpu, on="subnet")


def demo_table(out_dir: str | Path) -> pd.DataFrame:
    """Per sub-net of a demo folder (narrow to wide): ``macs``, ``top1_pim``, the simulated
    PIM ``latency_ns`` and 8-bit energy per image on each memory type
    (``energy_uj_<memory_type>``, from ``sweep.csv``). Deterministic: no measured column."""
    out = Path(out_dir)
    subnets = pd.read_csv(out / "subnets.csv")
    sweep = pd.read_csv(out / "sweep.csv")
    energy = sweep[sweep.bits == 8].pivot_table(index="subnet", columns="memory_type",
                                                values="energy_per_image_uj")
    table = subnets[["subnet", "macs", "top1_pim", "latency_ns"]]
    return table.merge(energy.add_prefix("energy_uj_").reset_index(), on="subnet")
