"""The ``digits-affine`` data set: its affine map on hand cases, its fixed test and validation
views, and a training run on it."""

from __future__ import annotations

import math

import pandas as pd
import torch

from pimsim.data import load_dataset
from pimsim.data.distorted import TEST_COPIES, affine, distort, load_digits_affine
from pimsim.train import TrainConfig, load_checkpoint, run_training


def _image() -> torch.Tensor:
    return torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)


def _one(angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0):
    return (torch.tensor([angle]), torch.tensor([scale]), torch.tensor([[dx, dy]]))


def test_identity_map_leaves_the_image() -> None:
    torch.testing.assert_close(affine(_image(), *_one()), _image())


def test_one_pixel_shift_moves_the_image_by_one_column() -> None:
    out = affine(_image(), *_one(dx=1.0))  # output pixel (r, c) reads source (r, c + 1)
    torch.testing.assert_close(out[..., :, :7], _image()[..., :, 1:])
    assert torch.all(out[..., :, 7] == 0)  # read from outside the image


def test_quarter_turn_equals_rot90() -> None:
    out = affine(_image(), *_one(angle=math.pi / 2))
    torch.testing.assert_close(out, torch.rot90(_image(), 1, dims=(2, 3)), atol=1e-4, rtol=0)


def test_halving_the_scale_doubles_the_reach() -> None:
    """scale 0.5: output pixel p reads source 2p, so the centre 4x4 block spans the image."""
    x = torch.ones(1, 1, 8, 8)
    out = affine(x, *_one(scale=0.5))
    assert out[..., 2:6, 2:6].min() > 0.99 and out[..., 0, 0] == 0


def test_distortion_is_seeded_and_varies_per_image() -> None:
    x = _image().repeat(3, 1, 1, 1)
    a = distort(x, torch.Generator().manual_seed(5))
    b = distort(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])


def test_fixed_test_and_validation_views() -> None:
    data = load_dataset("digits-affine")
    plain = load_dataset("digits")
    assert len(data.test_y) == TEST_COPIES * len(plain.test_y)
    assert torch.equal(data.test_y[: len(plain.test_y)], plain.test_y)
    assert torch.equal(data.test_x, load_digits_affine().test_x)  # same images every load
    assert not torch.equal(data.test_x[: len(plain.test_y)], plain.test_x)
    carved = data.carve(0.1)
    plain_carved = plain.carve(0.1)
    assert torch.equal(carved.validation.test_y, plain_carved.validation.test_y)
    assert not torch.equal(carved.validation.test_x, plain_carved.validation.test_x)
    assert torch.equal(carved.train_x, plain_carved.train_x)  # distorted per batch instead


def test_training_on_digits_affine_records_the_data_set(tmp_path) -> None:
    run_training(TrainConfig(dataset="digits-affine", method="individual", widths=(0.25,),
                             epochs=1, train_samples=64), tmp_path, quiet=True)
    table = pd.read_csv(tmp_path / "results.csv")
    assert 0.0 <= table.top1_float.iloc[0] <= 1.0
    _, meta = load_checkpoint(tmp_path / "models" / "w0.25.pt")
    assert meta["dataset"] == "digits-affine"  # so eval and simulate rebuild the same test set
