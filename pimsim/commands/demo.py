"""``pimsim demo``: the whole pipeline on the bundled digits data."""

from __future__ import annotations

import argparse

from pimsim.cliargs import positive_int
from pimsim.commands.common import Subparsers, examples

QUICK_EPOCHS, QUICK_LIMIT = 1, 64  # ``--quick``


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo", help="the whole pipeline on the bundled digits data (a few minutes)",
        description="Train a dynamic resnet20 on digits (single-path, 8-bit QAT), simulate "
        "every sub-net on SOT-MRAM bit-exactly, sweep 8/16 bits x SOT-MRAM/STT-MRAM/SRAM, "
        "measure CPU latency, and write CSVs and plots to --out.",
        epilog=examples("pimsim demo --out reports/demo",
                        "pimsim demo --quick --out /tmp/demo   # a smoke test, about a minute"))
    p.add_argument("--out", default="reports/demo", help="output directory")
    p.add_argument("--epochs", type=positive_int,
                   help="training epochs (default: the demo's setting, 8)")
    p.add_argument("--limit", type=positive_int, help="test images to simulate (default all)")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke test of the pipeline: --epochs {QUICK_EPOCHS} --limit "
                   f"{QUICK_LIMIT} (accuracies meaningless)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to
    from pimsim.reports.demo import EPOCHS, TITLE, run_demo

    with writing_to(args.out):
        table = run_demo(args.out, epochs=QUICK_EPOCHS if args.quick else args.epochs or EPOCHS,
                         limit=QUICK_LIMIT if args.quick else args.limit, quiet=args.quiet)
    print(TITLE)
    print(table.to_string(index=False, float_format="{:.4g}".format))
    print("top1_pim: fraction of the test images, bit-serial PIM; latency_ns: simulated per "
          "image; energy_uj_*: simulated per image, 8-bit; cpu_latency_ms: measured per image, "
          "batch 1")
    print(f"CSVs, plots (pareto.png, ...) and summary.md in {args.out}/")
