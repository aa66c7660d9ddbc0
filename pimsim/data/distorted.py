"""``digits-affine``: the bundled digits under random affine distortion, a harder task on which
a network's width shows in its accuracy (on the plain digits a width-0.125 resnet20 still
scores about 97 %).

Each training batch is distorted afresh (every epoch sees new images); the test images are
each distorted ``TEST_COPIES`` times with a fixed seed (1,800 test images, so the test-set
noise in a comparison is half that of the 450 plain ones), and validation images held out of
the training data with another fixed seed. A distortion maps output pixel ``p`` (coordinates
in [-1, 1], image centre 0) to source pixel ``A p + t`` with ``A = R(angle) / scale``:
``angle`` uniform in +-``MAX_ROTATION_DEG``, ``scale`` uniform in ``SCALE_RANGE``, ``t``
uniform in +-``MAX_SHIFT_PX`` pixels; bilinear sampling, zero outside the image (the MNIST-rot
and affNIST style of variation, Larochelle et al. 2007; Tieleman 2013).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pimsim.data.base import Dataset
from pimsim.data.digits import load_digits

MAX_ROTATION_DEG = 30.0
SCALE_RANGE = (0.8, 1.2)
MAX_SHIFT_PX = 1.0
TEST_COPIES = 4
TEST_SEED, VALIDATION_SEED = 1, 2


def affine(x: Tensor, angle_rad: Tensor, scale: Tensor, shift_px: Tensor) -> Tensor:
    """Image ``n`` of ``x`` (N x C x H x W) resampled at ``A p + t`` for each output pixel
    ``p`` (normalised coordinates), ``A = R(angle_rad[n]) / scale[n]``, ``t = shift_px[n]``
    (x, y) in pixels; bilinear, zero outside."""
    n, _, h, w = x.shape
    t = shift_px * torch.tensor([2.0 / w, 2.0 / h])  # pixels -> normalised coordinates
    cos, sin = torch.cos(angle_rad) / scale, torch.sin(angle_rad) / scale
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1),
                         torch.stack([sin, cos, t[:, 1]], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, [n, *x.shape[1:]], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def distort(x: Tensor, generator: torch.Generator) -> Tensor:
    """Each image of ``x`` under its own random affine map (module docstring)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(MAX_ROTATION_DEG)
    lo, hi = SCALE_RANGE
    scale = lo + torch.rand(n, generator=generator) * (hi - lo)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * MAX_SHIFT_PX
    return affine(x, angle, scale, shift)


def _fixed(x: Tensor, seed: int) -> Tensor:
    return distort(x, torch.Generator().manual_seed(seed))


def validation_view(x: Tensor) -> Tensor:
    """Held-out training images as the test images are seen: one fixed distortion each."""
    return _fixed(x, VALIDATION_SEED)


def load_digits_affine() -> Dataset:
    """The digits (their fixed split) with distorted training batches and a fixed distorted
    test set of ``TEST_COPIES`` views per test image."""
    base = load_digits()
    test_x = _fixed(base.test_x.repeat(TEST_COPIES, 1, 1, 1), TEST_SEED)
    return Dataset("digits-affine", base.train_x, base.train_y, test_x,
                   base.test_y.repeat(TEST_COPIES), base.num_classes, augment=distort,
                   preprocessing=base.preprocessing,
                   holdout_view=validation_view)
