"""The ``pimsim`` command: one module per subcommand; ``pimsim SUBCOMMAND --help``.

Each module has ``register(subparsers)``, which adds its parser and sets ``func`` to the
function that runs it. Every user-facing error is one line on stderr and exit status 2, never
a traceback. This package sits above the whole pipeline: no pipeline package imports it.
Building the parser imports no heavy module (``pimsim --help`` is fast): each command imports
what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pimsim import __version__
from pimsim.commands import (
    adapt,
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
from pimsim.commands.common import Parser, add_verbosity_args, examples
from pimsim.errors import PimsimError
from pimsim.progress import NORMAL, QUIET, VERBOSE, set_verbosity

# in the order of ``pimsim --help``
COMMANDS = (demo, train, eval, count, simulate, quantize, sweep, faults, plot, latency, select,
            adapt)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pimsim",
        description="Dynamic neural networks on SOT-MRAM processing-in-memory hardware.",
        epilog=examples("pimsim demo --out reports/demo",
                        "pimsim simulate --cost-only --model resnet18 --out runs/sim18",
                        "pimsim COMMAND --help"))
    parser.add_argument("--version", action="version", version=f"pimsim {__version__}")
    add_verbosity_args(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    for command_parser in sub.choices.values():
        add_verbosity_args(command_parser, top_level=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pimsim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["pimsim", *(sys.argv[1:] if argv is None else argv)]  # what config.json records
    if args.quiet and args.verbose:
        parser.error("--quiet and --verbose exclude each other")
    set_verbosity(QUIET if args.quiet else VERBOSE if args.verbose else NORMAL)
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
