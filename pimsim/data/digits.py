"""scikit-learn's bundled handwritten digits (UCI optdigits test set): 1,797 images of 8x8.

Pixels are 0..16 and are scaled to [0, 1]. The train/test split is stratified and seeded
(75 % / 25 %: 1,347 / 450 images) so every run sees the same split.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits as _sk_load_digits
from sklearn.model_selection import train_test_split

from pimsim.data.base import Dataset, Preprocessing

SPLIT_SEED = 0
TEST_FRACTION = 0.25


def load_digits() -> Dataset:
    """The digits data set with its fixed, seeded, stratified split."""
    bunch = _sk_load_digits()
    x = (bunch.images / 16.0).astype("float32")[:, None, :, :]
    y = bunch.target.astype("int64")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION,
                                              random_state=SPLIT_SEED, stratify=y)
    return Dataset("digits", torch.from_numpy(x_tr), torch.from_numpy(y_tr),
                   torch.from_numpy(x_te), torch.from_numpy(y_te), num_classes=10,
                   preprocessing=Preprocessing(1 / 16, (0.0,), (1.0,)))
