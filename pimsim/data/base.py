"""The in-memory data set every loader returns, and batch iteration over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from pimsim.errors import PimsimError

Augment = Callable[[Tensor, torch.Generator], Tensor]


@dataclass(frozen=True)
class Preprocessing:
    """How a stored image becomes the network's float input:
    ``x[c] = (raw[c] * scale - mean[c]) / std[c]`` per channel ``c`` (``raw``: the data set's
    stored pixel values, e.g. 0..16 for digits, 0..255 for CIFAR-10)."""

    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        return {"formula": "x[c] = (raw[c] * scale - mean[c]) / std[c]", "scale": self.scale,
                "mean": list(self.mean), "std": list(self.std)}


VALIDATION_SEED = 0  # the split is a property of the data, the same for every run seed


@dataclass
class Dataset:
    """Train and test tensors (images ``N x C x H x W`` float32, labels int64) and metadata;
    ``validation``: a held-out part of the training data, as a ``Dataset`` whose *test* split
    holds the validation images (None: none carved); ``preprocessing``: how the images were
    made from the stored pixels (None: unknown, e.g. synthetic data); ``holdout_view``: how
    training images held out for validation are presented (e.g. the test set's distortion;
    None: as they are)."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    augment: Augment | None = None
    validation: Dataset | None = None
    preprocessing: Preprocessing | None = None
    holdout_view: Callable[[Tensor], Tensor] | None = None

    def carve(self, validation: float, train_samples: int | None = None) -> Dataset:
        """A copy whose training data loses a seeded, class-stratified ``validation`` fraction
        (``round(f * n_c)`` images of each class ``c``, at least one when ``f > 0``) to
        ``validation``, and then keeps the first ``train_samples`` of a seeded shuffle of the
        rest (None: all). Test data untouched: tuning on the validation split never sees it."""
        if not 0 <= validation < 1:
            raise PimsimError(f"--validation: must be in [0, 1), got {validation!r}")
        gen = torch.Generator().manual_seed(VALIDATION_SEED)
        held, kept = [], []
        for c in range(self.num_classes):
            idx = torch.nonzero(self.train_y == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=gen)]
            n = max(1, round(validation * len(idx))) if validation > 0 and len(idx) > 1 else 0
            held.append(idx[:n])
            kept.append(idx[n:])
        held_idx, kept_idx = torch.cat(held).sort().values, torch.cat(kept)
        kept_idx = kept_idx[torch.randperm(len(kept_idx), generator=gen)]
        if train_samples is not None:
            if not 1 <= train_samples <= len(kept_idx):
                raise PimsimError(f"--train-samples: must be in [1, {len(kept_idx)}] (the "
                                  f"training images of {self.name} left after validation), "
                                  f"got {train_samples}")
            kept_idx = kept_idx[:train_samples]
        kept_idx = kept_idx.sort().values
        val = None
        if len(held_idx):
            held_x = self.train_x[held_idx]
            if self.holdout_view is not None:
                held_x = self.holdout_view(held_x)
            val = Dataset(f"{self.name}/validation", self.train_x[:0], self.train_y[:0],
                          held_x, self.train_y[held_idx], self.num_classes)
        return Dataset(self.name, self.train_x[kept_idx], self.train_y[kept_idx], self.test_x,
                       self.test_y, self.num_classes, self.augment, val, self.preprocessing,
                       self.holdout_view)

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
