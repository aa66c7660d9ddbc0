"""The ``pimsim`` command: one module per subcommand; ``pimsim SUBCOMMAND --help``.

Each module has ``register(subparsers)``, which adds its parser and sets ``func`` to the
function that runs it. Every user-facing error is one line on stderr and exit status 2, never
a traceback. This package sits above the whole pipeline: no pipeline package imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pimsim import __version__
from pimsim.commands import (
    count,
    demo,
    eval,
    faults,
    latency,
    plot,
    quantize,
    select,
    simulate,
    sweep,
    train,
)
from pimsim.commands.common import Parser
from pimsim.errors import PimsimError

# in the order of ``pimsim --help``
COMMANDS = (demo, train, eval, count, simulate, quantize, sweep, faults, plot, latency, select)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pimsim",
        description="Dynamic neural networks on SOT-MRAM processing-in-memory hardware.")
    parser.add_argument("--version", action="version", version=f"pimsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pimsim`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except PimsimError as exc:
        print(f"pimsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # last resort: a file the command could not read or write
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"pimsim {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pimsim {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
