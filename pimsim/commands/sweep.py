"""``pimsim sweep``: the cross product of sub-nets, bits, devices and ``--set`` axes."""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.cliargs import comma_list, positive_int
from pimsim.commands.common import Subparsers, add_cost_only_args, examples
from pimsim.executors import add_executor_args


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sweep", help="cross product of sub-nets, bits, devices and chip/device overrides",
        description="Evaluate every combination of --bits, --device-params and --set axes for "
        "every sub-net; one row per sub-net and point in DIR/sweep.csv. Resumable: rerun the "
        "same command to finish an interrupted sweep.",
        epilog=examples("pimsim sweep --cost-only --model resnet20 --input-size 32 "
                        "--num-classes 10 --bits 8,16 --set chip.rows=128,256 --out runs/sweep"))
    p.add_argument("--checkpoint", help="model.pt (accuracy from the integer executor)")
    add_cost_only_args(p)
    p.add_argument("--bits", type=comma_list(int, "integer"), default=[8],
                   help="comma list of 8 and 16")
    p.add_argument("--device-params", type=comma_list(str, "name"), default=["sot_mram_45nm"],
                   help="presets or files, e.g. sot_mram_45nm,stt_mram_45nm,sram_45nm")
    p.add_argument("--mapping", default="default", help="mapping name or YAML file")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=V1,V2",
                   help="an axis over a mapping key (chip.rows=128,256) or a device key "
                   "(mtj.tmr_ratio=0.9,1.5); repeat for more axes")
    p.add_argument("--limit", type=positive_int, help="test images for accuracy (default all)")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    add_executor_args(p)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to
    from pimsim.reports.sweep import SweepConfig, run_sweep
    from pimsim.simulate.hardware import parse_settings

    cfg = SweepConfig(checkpoint=args.checkpoint, cost_only=args.cost_only, model=args.model,
                      input_size=args.input_size, in_channels=args.in_channels,
                      num_classes=args.num_classes, widths=tuple(args.widths),
                      bits=tuple(args.bits), devices=tuple(args.device_params),
                      mapping=args.mapping, axes=parse_settings(args.set, axes=True),
                      limit=args.limit, data_dir=args.data_dir, jobs=args.jobs,
                      executor=args.executor, scheduler=args.scheduler)
    with writing_to(args.out):
        table = run_sweep(cfg, args.out, quiet=args.quiet)
    print(f"{len(table)} rows in {Path(args.out) / 'sweep.csv'}")
