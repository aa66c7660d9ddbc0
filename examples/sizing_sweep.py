"""A hardware architect's sizing sweep: which memory technology and sub-array height need the
least sub-array area while running the full CIFAR-sized resnet20 within a latency target?

Cost only (no training, no data): the untrained family of uniform widths is mapped onto each
chip; ``sweep.csv`` and the plots go to ``--out``. Runs in a few seconds.

    python examples/sizing_sweep.py --out runs/sizing --latency-us 200
"""

from __future__ import annotations

import argparse

from pimsim.reports.plots import plot_dir
from pimsim.reports.sweep import SweepConfig, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/sizing", help="output folder")
    parser.add_argument("--latency-us", type=float, default=200.0,
                        help="latency target per image of the full-width sub-net (us)")
    args = parser.parse_args()

    cfg = SweepConfig(cost_only=True, model="resnet20", input_size=32, num_classes=10,
                      widths=(0.25, 0.5, 1.0), bits=(8,),
                      devices=("sot_mram_45nm", "stt_mram_45nm", "sram_45nm"),
                      axes={"chip.rows": [128, 256, 512]})
    sweep = run_sweep(cfg, args.out, quiet=True)

    full = sweep[sweep.subnet == "w1"].copy()
    full["latency_us"] = full.latency_ns / 1e3
    shown = full[["technology", "chip.rows", "energy_per_image_uj", "latency_us", "area_mm2"]]
    print(shown.sort_values("area_mm2").to_string(index=False, float_format="{:.4g}".format))
    fits = full[full.latency_us <= args.latency_us]
    if fits.empty:
        print(f"no chip runs the full sub-net within {args.latency_us:g} us")
    else:
        best = fits.loc[fits.area_mm2.idxmin()]
        print(f"least area within {args.latency_us:g} us: {best.technology}, "
              f"{best['chip.rows']} rows per sub-array, {best.area_mm2:.3g} mm^2, "
              f"{best.energy_per_image_uj:.3g} uJ per image")
    for path in plot_dir(args.out):
        print(path)


if __name__ == "__main__":
    main()
