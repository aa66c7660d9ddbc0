"""The in-memory data set every loader returns, and batch iteration over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from pimsim.errors import PimsimError

Augment = Callable[[Tensor, torch.Generator], Tensor]


@dataclass
class Dataset:
    """Train and test tensors (images ``N x C x H x W`` float32, labels int64) and metadata."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    augment: Augment | None = None

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])

    def train_batches(self, batch_size: int, generator: torch.Generator,
                      augment: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
        """Shuffled training batches (augmented when the data set defines augmentation)."""
        order = torch.randperm(len(self.train_y), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x = self.train_x[idx]
            if augment and self.augment is not None:
                x = self.augment(x, generator)
            yield x, self.train_y[idx]

    def test_count(self, limit: int | None = None) -> int:
        """The number of test images ``limit`` keeps (all for None); a limit beyond the test set
        is a one-line error, never silently fewer images."""
        if limit is not None and limit > len(self.test_y):
            raise PimsimError(f"--limit: {limit} is more than the {len(self.test_y)} test "
                              f"images of {self.name}")
        return len(self.test_y) if limit is None else limit

    def test_batches(self, batch_size: int,
                     limit: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Test batches in a fixed order; ``limit`` keeps the first N images."""
        n = self.test_count(limit)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            yield self.test_x[start:stop], self.test_y[start:stop]
