"""``pimsim simulate``: accuracy, energy, latency, memory and area of every sub-net on PIM."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pimsim.cliargs import positive_int
from pimsim.commands.common import Subparsers, add_cost_only_args, examples
from pimsim.errors import PimsimError
from pimsim.executors import add_executor_args

if TYPE_CHECKING:
    from pimsim.simulate import SimulateConfig


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "simulate", help="accuracy, energy, latency, memory and area of every sub-net on PIM",
        description="Quantize every sub-net of a checkpoint, map the family onto the chip "
        "(nested sub-arrays), run it bit-exactly through the bit-serial sub-array model on "
        "the test set, and cost it. Writes DIR/subnets.csv, layers.csv, summary.md and "
        "config.json. --cost-only --model NAME --input-size N costs an untrained family of "
        "uniform widths (no accuracy).",
        epilog=examples("pimsim simulate --checkpoint runs/sp/model.pt --out runs/sp/sim",
                        "pimsim simulate --cost-only --model resnet18 --set chip.rows=128 "
                        "--out runs/sim18",
                        "pimsim simulate --config runs/sim18/config.json --out runs/again"))
    p.add_argument("--config", help="repeat the run that wrote this config.json (its options, "
                   "checkpoint and device/mapping files as recorded); only --out with it")
    p.add_argument("--checkpoint", help="model.pt of pimsim train")
    p.add_argument("--subnets", default="all", help="comma list of sub-net names (default all)")
    p.add_argument("--bits", type=int, choices=(8, 16),
                   help="8 or 16 (a float checkpoint is calibrated; default: the QAT bits, "
                   "8 with --cost-only)")
    p.add_argument("--device-params", default="sot_mram_45nm",
                   help="device preset name or YAML file")
    p.add_argument("--mapping", default="default", help="mapping name or YAML file")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=VALUE",
                   help="override a mapping key (chip.rows=128) or a device key "
                   "(mtj.tmr_ratio=0.9); repeat for more keys; recorded in config.json")
    p.add_argument("--limit", type=positive_int,
                   help="simulate the first N test images (default all)")
    p.add_argument("--calib-batches", type=positive_int, default=4,
                   help="batches of 64 training images for post-training calibration")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="images per batch; memory grows with it, not with the number of images")
    p.add_argument("--check-all", action="store_true",
                   help="check every image's PIM output equal to the integer executor's "
                   "(default: the first 1000; top1_int only when every image is checked)")
    p.add_argument("--adapted", metavar="ADAPT_DIR", help="an --out of pimsim adapt from "
                   "this checkpoint: cost each domain's DA3 gating (DIR/gating.csv)")
    add_executor_args(p)
    add_cost_only_args(p)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to

    with writing_to(args.out):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    from pimsim.simulate.replay import replayed

    if args.config is None:
        _simulate(args, _config_of(args))
        return
    given = [a.option_strings[0] for a in args.parser._actions
             if a.option_strings and a.dest not in ("config", "out", "help", "quiet", "verbose",
                                                          "jobs", "executor", "scheduler")
             and getattr(args, a.dest, None) != a.default]
    if given:
        raise PimsimError(f"--config: give only --out with it, not {', '.join(given)}")
    with replayed(args.config) as cfg:
        _simulate(args, cfg)


def _simulate(args: argparse.Namespace, cfg: SimulateConfig) -> None:
    from pimsim.simulate import simulate, write_simulation

    sim = simulate(cfg, argv=args.argv)
    out = write_simulation(sim, args.out)
    cols = [c for c in ("subnet", "bits", "macs", "top1_pim", "energy_per_image_uj",
                        "latency_ns", "tops_per_w", "area_mm2") if c in sim.subnets]
    print(sim.subnets[cols].to_string(index=False, float_format="{:.4g}".format))
    if "top1_pim" in cols:
        print("top1_pim: test-split accuracy of the integer model on bit-serial PIM (pimsim "
              "eval shows the float or fake-quantized model)")
    print(f"results in {out}/")


def _config_of(args: argparse.Namespace) -> SimulateConfig:
    from pimsim.simulate import SimulateConfig
    from pimsim.simulate.hardware import parse_settings

    return SimulateConfig(checkpoint=args.checkpoint, subnets=tuple(args.subnets.split(",")),
                         bits=args.bits, device_params=args.device_params,
                         mapping=args.mapping, limit=args.limit, data_dir=args.data_dir,
                         calib_batches=args.calib_batches, cost_only=args.cost_only,
                         model=args.model, input_size=args.input_size,
                         in_channels=args.in_channels, num_classes=args.num_classes,
                         widths=tuple(args.widths),
                         overrides=parse_settings(args.set, axes=False),
                         check_all=args.check_all, executor=args.executor, jobs=args.jobs,
                         scheduler=args.scheduler, batch_size=args.batch_size,
                         adapted=args.adapted)
