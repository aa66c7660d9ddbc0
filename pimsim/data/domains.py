"""Labelled domains made offline from a base data set (the digits by default): the same images
and labels under one deterministic transform each, so a backbone trained on the source domain
can be adapted to the others.

Transforms (train and test splits alike; ``noise`` is seeded per split):

- ``source``: the images unchanged;
- ``rotate``: a quarter turn (``torch.rot90``, square images only);
- ``flip``: mirrored left to right;
- ``invert``: ``lo + hi - x`` (``lo``, ``hi`` the smallest and largest training pixel);
- ``noise``: ``x + N(0, (0.5 * std)^2)``, ``std`` of the training pixels;
- ``blur``: a 3x3 Gaussian (sigma 1) per channel, zero padding.

Domains drop the base set's random augmentation: every epoch sees the same images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pimsim.data.base import Dataset
from pimsim.errors import PimsimError

DOMAINS = ("source", "rotate", "flip", "invert", "noise", "blur")
NOISE_STD = 0.5  # relative to the training pixels' standard deviation
BLUR_SIGMA = 1.0


def _blur(x: Tensor) -> Tensor:
    r = torch.arange(-1, 2, dtype=x.dtype)
    k1 = torch.exp(-(r ** 2) / (2 * BLUR_SIGMA ** 2))
    k = torch.outer(k1, k1)
    k = (k / k.sum()).expand(x.shape[1], 1, 3, 3).contiguous()
    return F.conv2d(x, k, padding=1, groups=x.shape[1])


def _transform(name: str, x: Tensor, ref: Tensor, seed: int) -> Tensor:
    if name == "source":
        return x.clone()
    if name == "rotate":
        return torch.rot90(x, 1, dims=(2, 3)).contiguous()
    if name == "flip":
        return x.flip(3).contiguous()
    if name == "invert":
        return ref.min() + ref.max() - x
    if name == "noise":
        g = torch.Generator().manual_seed(seed)
        return x + NOISE_STD * ref.std() * torch.randn(x.shape, generator=g, dtype=x.dtype)
    if name == "blur":
        return _blur(x)
    raise KeyError(name)


def check_domain(name: str, base: Dataset) -> str:
    """``name`` if it is a known domain that fits ``base``; else a one-line error."""
    if name not in DOMAINS:
        raise PimsimError(f"--domains: unknown domain {name!r}; choose from "
                          f"{', '.join(DOMAINS)} (or NAME=PATH for a data set on disk)")
    h, w = base.image_hw
    if name == "rotate" and h != w:
        raise PimsimError(f"--domains: rotate needs square images, {base.name} has {h}x{w}")
    return name


def make_domain(name: str, base: Dataset, seed: int = 0) -> Dataset:
    """The domain ``name`` of ``base`` (named ``<base>-<name>``), deterministic for ``seed``."""
    check_domain(name, base)
    ref = base.train_x
    return Dataset(f"{base.name}-{name}",
                   _transform(name, base.train_x, ref, seed),
                   base.train_y.clone(),
                   _transform(name, base.test_x, ref, seed + 1),
                   base.test_y.clone(),
                   num_classes=base.num_classes)
