"""What several ``pimsim`` subcommands share: the one-line-error parser, the cost-only
family's arguments and table printing."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pimsim.cliargs import fractions, positive_int

if TYPE_CHECKING:
    import pandas as pd


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``pimsim train: error: ...``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


Subparsers = argparse._SubParsersAction


def add_cost_only_args(p: argparse.ArgumentParser) -> None:
    """``--cost-only`` and the untrained family it costs (simulate, sweep)."""
    from pimsim.network import ARCHS

    p.add_argument("--cost-only", action="store_true", help="no weights, no accuracy")
    p.add_argument("--model", choices=ARCHS, metavar="NAME", help="with --cost-only")
    p.add_argument("--input-size", type=positive_int, default=224, help="with --cost-only")
    p.add_argument("--in-channels", type=positive_int, default=3, help="with --cost-only")
    p.add_argument("--num-classes", type=positive_int, default=1000, help="with --cost-only")
    p.add_argument("--widths", type=fractions, default=[0.25, 0.5, 0.75, 1.0],
                   help="with --cost-only: uniform width ratios")


def print_top1_table(table: pd.DataFrame) -> None:
    """Print a per-sub-net table with ``top1`` as a percentage."""
    shown = table.copy()
    shown["top1"] = (100 * shown["top1"]).map("{:.2f} %".format)
    print(shown.to_string(index=False))
