"""``pimsim simulate``: accuracy, energy, latency, memory and area of every sub-net on PIM."""

from __future__ import annotations

import argparse

from pimsim.cliargs import positive_int
from pimsim.commands.common import Subparsers, add_cost_only_args


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "simulate", help="accuracy, energy, latency, memory and area of every sub-net on PIM",
        description="Quantize every sub-net of a checkpoint, map the family onto the chip "
        "(nested sub-arrays), run it bit-exactly through the bit-serial sub-array model on "
        "the test set, and cost it. Writes DIR/subnets.csv, layers.csv, summary.md and "
        "config.json. --cost-only --model NAME --input-size N costs an untrained family of "
        "uniform widths (no accuracy).")
    p.add_argument("--checkpoint", help="model.pt of pimsim train")
    p.add_argument("--subnets", default="all", help="comma list of sub-net names (default all)")
    p.add_argument("--bits", type=int, choices=(8, 16),
                   help="8 or 16 (a float checkpoint is calibrated; default: the QAT bits, "
                   "8 with --cost-only)")
    p.add_argument("--device-params", default="sot_mram_45nm",
                   help="device preset name or YAML file (default sot_mram_45nm)")
    p.add_argument("--mapping", default="default", help="mapping name or YAML file")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=VALUE",
                   help="override a mapping key (chip.rows=128) or a device key "
                   "(mtj.tmr_ratio=0.9); repeat for more keys; recorded in config.json")
    p.add_argument("--limit", type=positive_int, help="simulate the first N test images")
    p.add_argument("--calib-batches", type=positive_int, default=4,
                   help="batches of 64 training images for post-training calibration")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    add_cost_only_args(p)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to

    with writing_to(args.out):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    from pimsim.simulate import SimulateConfig, simulate, write_simulation
    from pimsim.simulate.hardware import parse_settings

    cfg = SimulateConfig(checkpoint=args.checkpoint, subnets=tuple(args.subnets.split(",")),
                         bits=args.bits, device_params=args.device_params,
                         mapping=args.mapping, limit=args.limit, data_dir=args.data_dir,
                         calib_batches=args.calib_batches, cost_only=args.cost_only,
                         model=args.model, input_size=args.input_size,
                         in_channels=args.in_channels, num_classes=args.num_classes,
                         widths=tuple(args.widths),
                         overrides=parse_settings(args.set, axes=False))
    sim = simulate(cfg)
    out = write_simulation(sim, args.out)
    cols = [c for c in ("subnet", "bits", "macs", "top1_pim", "energy_per_image_uj",
                        "latency_ns", "tops_per_w", "area_mm2") if c in sim.subnets]
    print(sim.subnets[cols].to_string(index=False, float_format="{:.4g}".format))
    if "top1_pim" in cols:
        print("top1_pim: test-split accuracy of the integer model on bit-serial PIM (pimsim "
              "eval shows the float or fake-quantized model)")
    print(f"results in {out}/")
