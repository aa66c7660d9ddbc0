"""What every ``pimsim`` subcommand shares: the one-line-error parser and table printing."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``pimsim train: error: ...``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


Subparsers = argparse._SubParsersAction


def print_top1_table(table: pd.DataFrame) -> None:
    """Print a per-sub-net table with ``top1`` as a percentage."""
    shown = table.copy()
    shown["top1"] = (100 * shown["top1"]).map("{:.2f} %".format)
    print(shown.to_string(index=False))
