"""The user's own image data set on disk: a folder per class of PNG/JPEG files (read through
Pillow), or one ``.npz`` file of arrays, with the CIFAR reader's safety rules.

- Folder: ``ROOT/<class>/<image>.png|.jpg|.jpeg``; classes are the sub-folders, sorted by name
  (label 0 is the first). Class names must be 1 to 64 letters, digits, ``.``, ``_``, ``-`` or
  spaces, not starting with ``.``; symbolic links are never followed (nothing outside ``ROOT``
  is read); files above 64 MiB, images above 16 M pixels and sets whose tensors would exceed the
  memory limit (:mod:`pimsim.data.sizes`) are refused before decoding. Images are converted to
  grey (``channels`` 1) or RGB (3) and resized to ``size`` x ``size`` (bilinear), pixels in
  [0, 1].
- ``.npz``: arrays ``x`` (``N x H x W`` or ``N x C x H x W``, uint8 scaled by 1/255 or float)
  and ``y`` (N integer labels ``0..K-1``), loaded with ``allow_pickle=False``; their
  uncompressed size is checked before they are read; resized to ``size`` like images.

Both are split by a seeded, per-class shuffle: ``test_fraction`` of each class (at least one
image stays in training) is the test split.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pimsim.data.base import Dataset
from pimsim.data.sizes import FLOAT_BYTES, MAX_TENSOR_BYTES, check_bytes
from pimsim.errors import PimsimError

SUFFIXES = (".png", ".jpg", ".jpeg")
CLASS_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._ -]{0,63}")
MAX_FILES = 1_000_000
MAX_FILE_BYTES = 64 << 20
MAX_PIXELS = 16 << 20
MAX_CLASSES = 100_000


def _class_dirs(root: Path) -> list[Path]:
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                  and not p.name.startswith("."))
    if not dirs:
        raise PimsimError(f"{root}: no class folders (expected one sub-folder of PNG/JPEG "
                          "images per class)")
    for d in dirs:
        if not CLASS_NAME.fullmatch(d.name):
            raise PimsimError(f"{d}: class folder name must be 1 to 64 letters, digits, '.', "
                              "'_', '-' or spaces, not starting with '.'")
    if len(dirs) > MAX_CLASSES:
        raise PimsimError(f"{root}: {len(dirs):,} class folders (at most {MAX_CLASSES:,})")
    return dirs


def _read_image(path: Path, channels: int, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if path.stat().st_size > MAX_FILE_BYTES:
        raise PimsimError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise PimsimError(f"{path}: {img.width}x{img.height} pixels (at most "
                                  f"{MAX_PIXELS:,})")
            img = img.convert("L" if channels == 1 else "RGB")
            img = img.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PimsimError(f"{path}: not a readable PNG/JPEG image ({type(exc).__name__})") \
            from None
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _read_folder(root: Path, channels: int, size: int) -> tuple[Tensor, Tensor, int]:
    files: list[tuple[Path, int]] = []
    dirs = _class_dirs(root)
    for label, d in enumerate(dirs):
        found = sorted(p for p in d.iterdir() if p.suffix.lower() in SUFFIXES
                       and p.is_file() and not p.is_symlink())
        if not found:
            raise PimsimError(f"{d}: class folder holds no PNG/JPEG images")
        files.extend((p, label) for p in found)
        if len(files) > MAX_FILES:
            raise PimsimError(f"{root}: more than {MAX_FILES:,} images")
    check_bytes(len(files) * channels * size * size * FLOAT_BYTES,
                f"the data set {root} ({len(files)} images of {channels}x{size}x{size})",
                option="--domains")
    x = torch.from_numpy(np.stack([_read_image(p, channels, size) for p, _ in files]))
    y = torch.tensor([label for _, label in files], dtype=torch.int64)
    return x, y, len(dirs)


def _read_npz(path: Path, channels: int, size: int) -> tuple[Tensor, Tensor, int]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = {i.filename: i.file_size for i in zf.infolist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise PimsimError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    for key in ("x", "y"):
        if f"{key}.npy" not in names:
            raise PimsimError(f"{path}: missing array {key!r}")
    if sum(names.values()) > MAX_TENSOR_BYTES:
        raise PimsimError(f"{path}: its arrays exceed {MAX_TENSOR_BYTES >> 30} GiB")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise PimsimError(f"{path}: arrays do not load without pickle ({type(exc).__name__})") \
            from None
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise PimsimError(f"{path}: expected x of N x [C x] H x W and y of N labels, got "
                          f"{x.shape} and {y.shape}")
    if x.shape[1] != channels:
        raise PimsimError(f"{path}: x: {x.shape[1]} channels, the backbone takes {channels}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= MAX_CLASSES:
        raise PimsimError(f"{path}: y: must be integer labels 0 to {MAX_CLASSES - 1}")
    if x.dtype == np.uint8:
        xt = torch.from_numpy(x.astype(np.float32) / 255.0)
    elif np.issubdtype(x.dtype, np.floating) and np.isfinite(x).all():
        xt = torch.from_numpy(x.astype(np.float32))
    else:
        raise PimsimError(f"{path}: x: must be uint8 or finite floats, got {x.dtype}")
    check_bytes(len(x) * channels * size * size * FLOAT_BYTES, f"the data set {path}",
                option="--domains")
    if xt.shape[2:] != (size, size):
        xt = F.interpolate(xt, size=(size, size), mode="bilinear", align_corners=False)
    return xt, torch.from_numpy(y.astype(np.int64)), int(y.max()) + 1


def _split(y: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = min(len(idx) - 1, math.floor(fraction * len(idx) + 0.5))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def load_folder(path: str | Path, channels: int, size: int, name: str | None = None,
                test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """The data set at ``path`` (a folder per class or a ``.npz`` file; see the module
    docstring) as ``channels`` x ``size`` x ``size`` images, split seeded."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise PimsimError(f"{path}: broken symbolic link")
    if path.is_file() and path.suffix == ".npz":
        x, y, classes = _read_npz(path, channels, size)
    elif path.is_dir():
        x, y, classes = _read_folder(path, channels, size)
    else:
        raise PimsimError(f"{path}: not a folder of class folders or a .npz file")
    train, test = _split(y, test_fraction, seed)
    if len(test) == 0:
        raise PimsimError(f"{path}: too few images for a test split (one class needs two)")
    return Dataset(name or path.stem, x[train], y[train], x[test], y[test], num_classes=classes)
