"""Random images and labels of any shape: for cost-only work on ImageNet-sized inputs."""

from __future__ import annotations

import math

import torch

from pimsim.data.base import Dataset
from pimsim.data.sizes import FLOAT_BYTES, check_bytes

SYNTHETIC_SIZES = (64, 16)  # training and test images of ``--dataset synthetic``


def load_synthetic(shape: tuple[int, int, int] = (3, 224, 224), num_classes: int = 1000,
                   train_size: int = SYNTHETIC_SIZES[0], test_size: int = SYNTHETIC_SIZES[1],
                   seed: int = 0) -> Dataset:
    """Standard-normal images of ``shape`` (C, H, W) with uniform random labels, seeded; a set
    too large for memory (:func:`~pimsim.data.sizes.check_bytes`) is refused first."""
    images = train_size + test_size
    check_bytes(images * math.prod(shape) * FLOAT_BYTES,
                f"the synthetic data set ({images} images of {'x'.join(map(str, shape))})",
                "--input-size" if (train_size, test_size) == SYNTHETIC_SIZES else "--dataset")
    g = torch.Generator().manual_seed(seed)
    return Dataset(
        "synthetic",
        torch.randn(train_size, *shape, generator=g),
        torch.randint(0, num_classes, (train_size,), generator=g),
        torch.randn(test_size, *shape, generator=g),
        torch.randint(0, num_classes, (test_size,), generator=g),
        num_classes=num_classes,
    )
