"""An ML researcher's loop: train a dynamic resnet20 on the bundled digits data (three
sub-nets sharing weights), simulate each one bit-exactly on SOT-MRAM processing-in-memory at
8 bits (post-training calibration), and plot accuracy against energy. Well under a minute on
a laptop CPU; ``--epochs 15`` trains the sub-nets to their full accuracy.

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
    parser.add_argument("--epochs", type=int, default=3, help="training epochs")
    parser.add_argument("--limit", type=int, default=64, help="test images to simulate")
    args = parser.parse_args()
    out = Path(args.out)

    # uniform widths trained jointly in float (sandwich rule, in-place distillation)
    run_training(TrainConfig(method="uniform", widths=(0.25, 0.5, 1.0), epochs=args.epochs),
                 out / "train", resume=True, quiet=True)
    sim = simulate(SimulateConfig(checkpoint=str(out / "train" / "model.pt"), bits=8,
                                  limit=args.limit))
    write_simulation(sim, out / "sim")

    table = sim.subnets[["subnet", "macs", "top1_pim", "energy_per_image_uj", "latency_ns"]]
    print(table.to_string(index=False, float_format="{:.4g}".format))
    for path in plot_dir(out / "sim"):
        print(path)


if __name__ == "__main__":
    main()
