"""Progress on stderr: a tqdm bar on a terminal, else one plain line per step (no carriage
returns or escape codes in a log file), nothing when quiet.

The verbosity is process-wide, set once by the ``pimsim`` command (``--quiet``/``--verbose``):
:data:`QUIET` shows no progress, :data:`NORMAL` progress, :data:`VERBOSE` also :func:`note`
messages (what a command is doing, e.g. the stages of ``pimsim simulate``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

QUIET, NORMAL, VERBOSE = 0, 1, 2
_verbosity = NORMAL

T = TypeVar("T")


def set_verbosity(level: int) -> None:
    """Set the process-wide verbosity (:data:`QUIET`, :data:`NORMAL` or :data:`VERBOSE`)."""
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    """The process-wide verbosity."""
    return _verbosity


def note(message: str) -> None:
    """Print ``message`` on stderr when verbose."""
    if _verbosity >= VERBOSE:
        print(message, file=sys.stderr, flush=True)


class Progress:
    """``total`` steps of work named ``desc``, shown while :meth:`update` is called: a tqdm bar
    when stderr is a terminal, else (if ``lines``) one line per step, ``desc: 3/15 epochs
    (12.3 s)`` (per hundredth of ``total`` when it is over 100); nothing when ``enabled`` is
    false or the verbosity is :data:`QUIET`. ``leave``: the bar stays on screen when closed."""

    def __init__(self, total: int | None, desc: str, *, initial: int = 0, unit: str = "step",
                 leave: bool = True, lines: bool = True, enabled: bool = True) -> None:
        self.total, self.desc, self.unit, self.done = total, desc, unit, initial
        self.start = time.perf_counter()
        shown = enabled and _verbosity > QUIET
        self.bar: Any = None
        self.lines = shown and lines and not sys.stderr.isatty()
        self.every = max(1, (total or 0) // 100)  # at most about 100 lines
        self.next_line = initial + self.every
        if shown and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, initial=initial, unit=unit, leave=leave)

    def update(self, n: int = 1) -> None:
        """``n`` more steps done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.lines and (self.done >= self.next_line or self.done == self.total):
            self.next_line = (self.done // self.every + 1) * self.every
            of = f"/{self.total}" if self.total is not None else ""
            wall_s = time.perf_counter() - self.start
            rate = f", {self.done / wall_s:.3g} {self.unit}s/s" if wall_s > 0 else ""
            print(f"{self.desc}: {self.done}{of} {self.unit}s ({wall_s:.1f} s{rate})",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(items: Iterable[T], desc: str, *, total: int | None = None,
             **options: Any) -> Iterator[T]:
    """Iterate ``items``, showing a :class:`Progress` (``options`` as there) that counts a step
    as each item's work finishes. ``total`` defaults to ``len(items)`` when it has one."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, **options) as shown:
        for item in items:
            yield item
            shown.update()
