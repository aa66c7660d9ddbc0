"""What several ``pimsim`` subcommands share: the one-line-error parser and its help format,
options whose choices load lazily, ``--quiet``/``--verbose``, the cost-only family's arguments
and table printing.

Building the parser imports no heavy module (torch, pandas, numba, ...): ``pimsim --help``
stays fast; a command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pimsim.cliargs import fractions, positive_int

if TYPE_CHECKING:
    import pandas as pd


class HelpFormatter(argparse.HelpFormatter):
    """Every option's default shown as ``(default: 15)``, unless its help already names one or
    it has none (``None``, a flag's ``False``, an empty list); in a description or epilog, lines
    that start with a space (examples) are kept as written, the rest wrapped."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text or default is None
                or default is False or default == argparse.SUPPRESS or default == []):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(line if line.startswith(" ") else
                         textwrap.fill(line, width, initial_indent=indent,
                                       subsequent_indent=indent)
                         for line in text.splitlines())


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``pimsim train: error: ...``), exit 2; help in
    :class:`HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


Subparsers = argparse._SubParsersAction


class LazyChoices(Sequence[str]):
    """An option's choices, read from ``load`` when first needed (parsing that option, or its
    help through ``%(choices)s``), so that building the parser imports nothing heavy."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(self._load())

    def __getitem__(self, index: Any) -> Any:
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)


class LazyText:
    """Names read from ``load`` only when a help text shows them: set it as an attribute of
    an argparse action and write ``%(attribute)s`` in its help."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load

    def __str__(self) -> str:
        return ", ".join(self._load())


def _archs() -> Sequence[str]:
    from pimsim.network import ARCHS

    return ARCHS


ARCH_CHOICES = LazyChoices(_archs)


def examples(*commands: str) -> str:
    """An epilog listing example command lines."""
    return "example" + "s" * (len(commands) > 1) + ":\n" + "\n".join(f"  {c}" for c in commands)


def add_verbosity_args(p: argparse.ArgumentParser, top_level: bool) -> None:
    """``-q/--quiet`` and ``-v/--verbose``, before or after the subcommand (a subcommand's copy
    sets them only when given, so it never resets the top-level one)."""
    default = False if top_level else argparse.SUPPRESS
    group = p.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="no progress output: results and errors only")
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="also say what each stage is doing")


def add_cost_only_args(p: argparse.ArgumentParser) -> None:
    """``--cost-only`` and the untrained family it costs (simulate, sweep)."""
    p.add_argument("--cost-only", action="store_true",
                   help="cost an untrained family: no weights, no accuracy")
    p.add_argument("--model", choices=ARCH_CHOICES, metavar="NAME",
                   help="with --cost-only: network family, one of %(choices)s")
    p.add_argument("--input-size", type=positive_int, default=224,
                   help="with --cost-only: image size in pixels")
    p.add_argument("--in-channels", type=positive_int, default=3,
                   help="with --cost-only: input channels")
    p.add_argument("--num-classes", type=positive_int, default=1000,
                   help="with --cost-only: classes")
    p.add_argument("--widths", type=fractions, default=[0.25, 0.5, 0.75, 1.0],
                   help="with --cost-only: uniform width ratios")


def print_top1_table(table: pd.DataFrame) -> None:
    """Print a per-sub-net table with its ``top1*`` columns as percentages."""
    shown = table.copy()
    for column in [c for c in shown if c.startswith("top1")]:
        shown[column] = (100 * shown[column]).map("{:.2f} %".format)
    print(shown.to_string(index=False))
