"""The ``pimsim`` console script's entry point; the subcommands live in :mod:`pimsim.commands`."""

from __future__ import annotations

import sys

from pimsim.commands import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
