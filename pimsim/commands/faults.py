"""``pimsim faults``: each sub-net's accuracy on an imperfect chip (device variation, sensing
and write errors, stuck-at weight cells), over variation points and seeded trials."""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.cliargs import comma_list, nonneg_int, positive_int
from pimsim.commands.common import Subparsers, examples
from pimsim.executors import add_executor_args


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "faults", help="accuracy of every sub-net under device variation and sensing errors",
        description="Bit-exact PIM inference with injected faults: per sub-net and point, "
        "top-1 mean and spread over trials, per-operation error probabilities, layer-output "
        "error rate and costs in DIR/faults.csv, and DIR/faults.png. Resumable.",
        epilog=examples("pimsim faults --checkpoint runs/sp/model.pt --error-probs "
                        "0,1e-6,1e-5,1e-4 --trials 10 --out runs/faults",
                        "pimsim faults --checkpoint runs/sp/model.pt "
                        "--set variation.sigma_rp=0.03,0.05,0.07 --out runs/faults_sigma"))
    p.add_argument("--checkpoint", required=True, help="model.pt")
    p.add_argument("--subnets", type=comma_list(str, "name"), default=None,
                   help="names, or all (default)")
    p.add_argument("--bits", type=int, help="8 or 16 (default: the checkpoint's QAT bits)")
    p.add_argument("--device-params", default="sot_mram_45nm", help="preset name or YAML file")
    p.add_argument("--mapping", default="default", help="mapping name or YAML file")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=V1,V2",
                   help="an axis over a device key (variation.sigma_rp=0.05,0.1, "
                   "mtj.tmr_ratio=0.9,1.5) or a mapping key; repeat for more axes")
    p.add_argument("--error-probs", type=comma_list(float, "number"), default=[],
                   help="inject these error probabilities into every AND2 sense and "
                   "activation write instead of the device's variation model")
    p.add_argument("--trials", type=positive_int, default=10,
                   help="seeded fault draws per sub-net and point")
    p.add_argument("--seed", type=nonneg_int, default=0, help="trial t uses seed + t")
    p.add_argument("--limit", type=positive_int, help="test images (default all)")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    add_executor_args(p)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to
    from pimsim.reports.faults import FaultsConfig, run_faults
    from pimsim.simulate.hardware import parse_settings

    cfg = FaultsConfig(checkpoint=args.checkpoint, subnets=args.subnets, bits=args.bits,
                       device_params=args.device_params, mapping=args.mapping,
                       axes=parse_settings(args.set, axes=True),
                       error_probs=tuple(args.error_probs), trials=args.trials, seed=args.seed,
                       limit=args.limit, data_dir=args.data_dir, jobs=args.jobs,
                       executor=args.executor, scheduler=args.scheduler)
    with writing_to(args.out):
        table = run_faults(cfg, args.out, quiet=args.quiet)
    print(f"{len(table)} rows in {Path(args.out) / 'faults.csv'}")
