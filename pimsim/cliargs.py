"""argparse value types shared by every ``pimsim`` subcommand: bad values become one-line
usage errors (exit 2) before anything runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def nonneg_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def comma_list(kind: Callable[[str], object], name: str = "value") -> Callable[[str], list]:
    """A comma-separated list of ``kind`` values (at least one)."""
    def parse(text: str) -> list:
        items = [v for v in text.split(",") if v.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        try:
            return [kind(v) for v in items]
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of {name}s") from None
    return parse


def fractions(text: str) -> list[float]:
    """Comma list of numbers in (0, 1] (width ratios, budgets)."""
    values = comma_list(float, "number")(text)
    for v in values:
        if not 0 < v <= 1:
            raise argparse.ArgumentTypeError(f"{v:g} is outside (0, 1]")
    return values
