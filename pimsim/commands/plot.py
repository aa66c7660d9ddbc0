"""``pimsim plot``: every figure the CSVs of a folder allow."""

from __future__ import annotations

import argparse

from pimsim.commands.common import Subparsers, examples


def register(sub: Subparsers) -> None:
    p = sub.add_parser("plot", help="Pareto fronts and breakdowns (PNG and SVG) of a folder",
                       description="Draw every figure the CSVs in DIR allow (sweep.csv, "
                       "subnets.csv, layers.csv, latency.csv).",
                       epilog=examples("pimsim plot runs/sweep"))
    p.add_argument("dir", help="folder of pimsim CSVs; the plots are written there")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to
    from pimsim.reports.plots import plot_dir

    with writing_to(args.dir, flag="dir"):
        paths = plot_dir(args.dir)
    for path in paths:
        print(path)
