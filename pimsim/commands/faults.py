"""``pimsim faults``: each sub-net's accuracy on an imperfect chip (device variation, sensing
and write errors, stuck-at weight cells), over variation points and seeded trials."""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.cliargs import comma_list, nonneg_int, positive_int
from pimsim.commands.common import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "faults", help="accuracy of every sub-net under device variation and sensing errors",
        description="Bit-exact PIM inference with injected faults: per sub-net and point, "
        "top-1 mean and spread over trials, per-operation error probabilities, layer-output "
        "error rate and costs in DIR/faults.csv, and DIR/faults.png. Resumable.")
    p.add_argument("--checkpoint", required=True, help="model.pt")
    p.add_argument("--subnets", type=comma_list(str, "name"), default=None,
                   help="names, or all (default)")
    p.add_argument("--bits", type=int, help="8 or 16 (default: the checkpoint's QAT bits)")
    p.add_argument("--device-params", default="sot_mram_45nm")
    p.add_argument("--mapping", default="default")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=V1,V2",
                   help="an axis over a device key (variation.sigma_rp=0.05,0.1, "
                   "mtj.tmr_ratio=0.9,1.5) or a mapping key; repeat for more axes")
    p.add_argument("--error-probs", type=comma_list(float, "number"), default=[],
                   help="inject these error probabilities into every AND2 sense and "
                   "activation write instead of the device's variation model")
    p.add_argument("--trials", type=positive_int, default=10)
    p.add_argument("--seed", type=nonneg_int, default=0, help="trial t uses seed + t")
    p.add_argument("--limit", type=positive_int, help="test images")
    p.add_argument("--data-dir")
    p.add_argument("--jobs", type=positive_int, default=1, help="processes (default 1)")
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to
    from pimsim.reports.faults import FaultsConfig, run_faults
    from pimsim.simulate.hardware import parse_settings

    cfg = FaultsConfig(checkpoint=args.checkpoint, subnets=args.subnets, bits=args.bits,
                       device_params=args.device_params, mapping=args.mapping,
                       axes=parse_settings(args.set, axes=True),
                       error_probs=tuple(args.error_probs), trials=args.trials, seed=args.seed,
                       limit=args.limit, data_dir=args.data_dir, jobs=args.jobs)
    with writing_to(args.out):
        table = run_faults(cfg, args.out, quiet=args.quiet)
    print(f"{len(table)} rows in {Path(args.out) / 'faults.csv'}")
