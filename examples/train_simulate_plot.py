"""An ML researcher's loop: train a dynamic resnet20 on the bundled digits data (three
sub-nets sharing weights), simulate each one bit-exactly on SOT-MRAM processing-in-memory,
and plot accuracy against energy. Runs in well under a minute on a laptop CPU.

    python examples/train_simulate_plot.py --out runs/researcher
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.reports.plots import plot_dir
from pimsim.simulate import SimulateConfig, simulate, write_simulation
from pimsim.train import TrainConfig, run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/researcher", help="output folder")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs")
    parser.add_argument("--limit", type=int, default=64, help="test images to simulate")
    args = parser.parse_args()
    out = Path(args.out)

    # uniform widths trained jointly (sandwich rule, in-place distillation), 8-bit QAT
    run_training(TrainConfig(method="uniform", widths=(0.25, 0.5, 1.0), bits=8,
                             epochs=args.epochs), out / "train", resume=True, quiet=True)
    sim = simulate(SimulateConfig(checkpoint=str(out / "train" / "model.pt"), limit=args.limit))
    write_simulation(sim, out / "sim")

    table = sim.subnets[["subnet", "macs", "top1_pim", "energy_per_image_uj", "latency_ns"]]
    print(table.to_string(index=False, float_format="{:.4g}".format))
    for path in plot_dir(out / "sim"):
        print(path)


if __name__ == "__main__":
    main()
