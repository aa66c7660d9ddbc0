"""Bit-exact PIM inference over a test set in bounded memory: shards of images, batches within.

A *shard* (a contiguous range of test images) is one task: :func:`run_shard` quantizes each
batch of ``batch_size`` images (:meth:`pimsim.quantize.IntGraph.quantize_input`), runs it
through the bit-serial sub-arrays (:func:`run_pim`) and, for the images to check, through the
integer executor, which must agree prediction by prediction (logit by logit); it keeps only
counts: correct predictions and each layer's events. So memory is bounded by one batch's
layer outputs, whatever the number of images, and shards can run anywhere
(:func:`pimsim.executors.open_executor`); their results add up exactly (integers), so they do
not depend on the shard size, the batch size or the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from pimsim.device import DeviceParams, EventCounts
from pimsim.quantize import IntGraph
from pimsim.simulate.pim_execute import run_pim


@dataclass(frozen=True)
class ShardResult:
    """Counts over some images: ``images`` run on PIM, ``correct_pim`` of them right;
    ``checked`` of them also run on the integer executor (equal outputs), ``correct_int`` of
    those right; ``events`` per weight layer, summed over the images."""

    images: int = 0
    correct_pim: int = 0
    checked: int = 0
    correct_int: int = 0
    events: Mapping[str, EventCounts] = field(default_factory=dict)

    def __add__(self, other: ShardResult) -> ShardResult:
        events = dict(self.events)
        for name, counts in other.events.items():
            events[name] = events[name] + counts if name in events else counts
        return ShardResult(self.images + other.images, self.correct_pim + other.correct_pim,
                           self.checked + other.checked, self.correct_int + other.correct_int,
                           events)


def iter_batches(start: int, stop: int, batch_size: int) -> Iterator[slice]:
    """Slices ``[start, stop)`` in order, ``batch_size`` images each (the last may be short)."""
    for i in range(start, stop, batch_size):
        yield slice(i, min(i + batch_size, stop))


def shard_ranges(images: int, shard_images: int) -> list[range]:
    """The first ``images`` test images cut into ranges of ``shard_images`` (the last shorter)."""
    return [range(i, min(i + shard_images, images)) for i in range(0, images, shard_images)]


def run_shard(graph: IntGraph, images: np.ndarray, labels: np.ndarray, rows: int, cols: int,
              params: DeviceParams | None, batch_size: int, check: int,
              progress: Callable[[int], None] | None = None) -> ShardResult:
    """PIM inference of ``graph`` on float ``images`` (N, C, H, W) with ``labels``, in batches;
    the first ``check`` of them are also run on the integer executor and must give the same
    output (else ``RuntimeError``: a pimsim bug). ``progress(n)`` after each batch of n."""
    total = ShardResult()
    for part in iter_batches(0, len(images), batch_size):
        x = graph.quantize_input(images[part])
        y = np.asarray(labels[part])
        out, events = run_pim(graph, x, rows, cols, params)
        checked = max(0, min(check, part.stop) - part.start)
        correct_int = 0
        if checked:
            ref = graph.run_int(x[:checked])
            if not np.array_equal(out[:checked], ref):
                raise RuntimeError(f"{graph.name}: bit-serial PIM output differs from the "
                                   "integer executor's (a pimsim bug; please report it)")
            correct_int = int((ref.argmax(1) == y[:checked]).sum())
        total = total + ShardResult(len(x), int((out.argmax(1) == y).sum()), checked,
                                    correct_int, events)
        if progress is not None:
            progress(len(x))
    return total
