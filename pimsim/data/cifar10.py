"""CIFAR-10 from the standard python-pickle batches (Krizhevsky 2009), never downloaded.

The directory holds ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` (or contains a
``cifar-10-batches-py`` folder that does). The batches are pickles, so they are read with a
restricted unpickler that builds only dicts, lists, bytes, numbers and numpy arrays: a file
that asks for any other class is refused, not executed.
Augmentation (He et al. 2016): 4-pixel zero padding, a random 32x32 crop, a random
horizontal flip. Normalisation by the usual per-channel mean and standard deviation.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pimsim.data.base import Dataset, Preprocessing
from pimsim.errors import PimsimError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles store the arrays' raw bytes
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``N x 3 x 32 x 32`` uint8 and labels of one pickle batch."""
    try:
        with path.open("rb") as fh:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
    except OSError as exc:
        raise PimsimError(f"{path}: cannot read: {exc.strerror}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise PimsimError(f"{path}: not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(batch, dict):
        raise PimsimError(f"{path}: not a CIFAR-10 python batch (no dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise PimsimError(f"{path}: missing key {key!r}")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise PimsimError(f"{path}: data: expected N x 3072 bytes and N labels, "
                          f"got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _normalise(images: np.ndarray) -> Tensor:
    x = torch.from_numpy(images).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def crop_flip(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random ``pad``-pixel shifted crop and random horizontal flip of each image."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    batch = torch.arange(n)[:, None, None, None]
    chan = torch.arange(x.shape[1])[None, :, None, None]
    return padded[batch, chan, rows, cols]


def load_cifar10(root: str | Path) -> Dataset:
    """CIFAR-10 from ``root`` (see module docstring); a clear error if files are missing."""
    root = Path(root)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise PimsimError(f"{root}: CIFAR-10 directory not found (pimsim never downloads data; "
                          "point --data-dir at the extracted cifar-10-batches-py)")
    missing = [f for f in (*TRAIN_FILES, TEST_FILE) if not (root / f).is_file()]
    if missing:
        raise PimsimError(f"{root}: missing CIFAR-10 batch file(s): {', '.join(missing)}")
    parts = [read_batch(root / f) for f in TRAIN_FILES]
    test_x, test_y = read_batch(root / TEST_FILE)
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return Dataset("cifar10", _normalise(train_x), torch.from_numpy(train_y),
                   _normalise(test_x), torch.from_numpy(test_y), num_classes=10,
                   augment=crop_flip, preprocessing=Preprocessing(1 / 255, MEAN, STD))
