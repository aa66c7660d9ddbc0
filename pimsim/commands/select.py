"""``pimsim select``: the most accurate sub-net within a latency or energy budget, or the
cheapest one that keeps a minimum accuracy on a given imperfect chip (``pimsim faults``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.commands.common import Subparsers, examples
from pimsim.errors import PimsimError


def register(sub: Subparsers) -> None:
    p = sub.add_parser("select", help="the most accurate sub-net within a budget",
                       description="Pick the most accurate sub-net whose measured latency "
                       "per image (DIR/latency.csv, column latency_per_image_ms) or simulated "
                       "energy per image (DIR/subnets.csv, column energy_per_image_uj) fits "
                       "(accuracy: the first of top1_pim, top1_int, top1_fakequant, top1_float "
                       "in the table); or, with --min-top1, the cheapest sub-net (energy per "
                       "image) whose mean top-1 on the faulty chip at the point --at "
                       "(DIR/faults.csv) keeps it.",
                       epilog=examples("pimsim select runs/sim --budget-uj 2.5",
                                       "pimsim select runs/faults --min-top1 0.95 "
                                       "--at error_prob=1e-5"))
    p.add_argument("dir", help="folder holding latency.csv, subnets.csv or faults.csv")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-ms", type=float,
                        help="measured latency per image (ms; latency_per_image_ms)")
    budget.add_argument("--budget-uj", type=float,
                        help="simulated energy per image (uJ; energy_per_image_uj)")
    budget.add_argument("--min-top1", type=float,
                        help="minimum mean top-1 (a fraction) on the chip given by --at")
    p.add_argument("--at", action="append", default=[], metavar="KEY=VALUE",
                   help="with --min-top1: the point of DIR/faults.csv (an axis, e.g. "
                   "variation.sigma_rp=0.1, or error_prob=1e-5); repeat for every axis")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.reports.pareto import accuracy_column, select_within_budget
    from pimsim.reports.tables import read_table

    folder = Path(args.dir)
    if args.min_top1 is not None:
        return _select_under_errors(folder, args.min_top1, args.at)
    name, cost, budget = (("latency.csv", "latency_per_image_ms", args.budget_ms)
                          if args.budget_ms is not None
                          else ("subnets.csv", "energy_per_image_uj", args.budget_uj))
    path = folder / name
    if not path.is_file():
        raise PimsimError(f"{path}: not found (run pimsim latency/simulate into {folder})")
    table = read_table(path)
    row = select_within_budget(table, budget, cost)
    accuracy = accuracy_column(table)
    print(f"{row.subnet}: {accuracy} {100 * row[accuracy]:.2f} %, {cost} {row[cost]:.4g} "
          f"(budget {budget:g})")


def _select_under_errors(folder: Path, min_top1: float, at: list[str]) -> None:
    from pimsim.reports.faults import select_under_error_budget
    from pimsim.reports.tables import read_table

    if not 0 <= min_top1 <= 1:
        raise PimsimError(f"--min-top1: {min_top1:g} is not a fraction in [0, 1]")
    point = {}
    for text in at:
        key, sep, value = text.partition("=")
        try:
            point[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise PimsimError(f"--at: {text!r}: expected KEY=NUMBER")
    path = folder / "faults.csv"
    if not path.is_file():
        raise PimsimError(f"{path}: not found (run pimsim faults into {folder})")
    row = select_under_error_budget(read_table(path), point, min_top1)
    print(f"{row.subnet}: top1_pim_mean {100 * row.top1_pim_mean:.2f} % at {point}, "
          f"energy_per_image_uj {row.energy_per_image_uj:.4g} (minimum {100 * min_top1:.2f} %)")
