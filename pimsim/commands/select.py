"""``pimsim select``: the most accurate sub-net within a latency or energy budget."""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.commands.common import Subparsers, examples
from pimsim.errors import PimsimError


def register(sub: Subparsers) -> None:
    p = sub.add_parser("select", help="the most accurate sub-net within a budget",
                       description="Pick the most accurate sub-net whose measured latency "
                       "per image (DIR/latency.csv, column latency_per_image_ms) or simulated "
                       "energy per image (DIR/subnets.csv, column energy_per_image_uj) fits. "
                       "Accuracy: the first of top1_pim, top1_int, top1_fakequant, "
                       "top1_float in the table.",
                       epilog=examples("pimsim select runs/sim --budget-uj 2.5"))
    p.add_argument("dir", help="folder holding latency.csv or subnets.csv")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-ms", type=float,
                        help="measured latency per image (ms; latency_per_image_ms)")
    budget.add_argument("--budget-uj", type=float,
                        help="simulated energy per image (uJ; energy_per_image_uj)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.reports.pareto import accuracy_column, select_within_budget
    from pimsim.reports.tables import read_table

    folder = Path(args.dir)
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
