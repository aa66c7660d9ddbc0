"""Data sets: ``digits`` (the default, bundled), ``digits-affine`` (the digits under random
affine distortion: a harder bundled task), ``cifar10`` (a directory you name),
``synthetic`` (random tensors of any shape; ``synthetic:TRAIN,TEST`` sets its image counts,
64 and 16 by default). The name, sizes included, is what a checkpoint records, so the sub-commands
that read one regenerate the same images."""

from __future__ import annotations

from pimsim.data.base import Dataset, Preprocessing
from pimsim.data.cifar10 import load_cifar10
from pimsim.data.digits import load_digits
from pimsim.data.distorted import load_digits_affine
from pimsim.data.synthetic import SYNTHETIC_SIZES, load_synthetic
from pimsim.errors import PimsimError

DATASETS = ("digits", "digits-affine", "cifar10", "synthetic")


def load_dataset(name: str, data_dir: str | None = None,
                 input_size: int = 224, num_classes: int = 1000) -> Dataset:
    """Load a data set by name. ``cifar10`` needs ``data_dir``; ``synthetic`` uses
    3 x ``input_size`` x ``input_size`` images and ``num_classes`` classes, and
    ``synthetic:TRAIN,TEST`` that many training and test images."""
    if name == "digits":
        return load_digits()
    if name == "digits-affine":
        return load_digits_affine()
    if name == "cifar10":
        if data_dir is None:
            raise PimsimError("--data-dir: required for cifar10 (pimsim never downloads data)")
        return load_cifar10(data_dir)
    if name.split(":", 1)[0] == "synthetic":
        return load_synthetic((3, input_size, input_size), num_classes, *synthetic_sizes(name))
    raise PimsimError(f"--dataset: unknown data set {name!r}; choose one of {', '.join(DATASETS)}")


def synthetic_sizes(name: str) -> tuple[int, int]:
    """(train, test) image counts of ``synthetic`` (64, 16) or ``synthetic:TRAIN,TEST``."""
    if name == "synthetic":
        return SYNTHETIC_SIZES
    parts = name.removeprefix("synthetic:").split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise PimsimError(f"--dataset: {name}: give synthetic:TRAIN,TEST with two integers "
                          ">= 1 (images in the training and test sets)")
    return int(parts[0]), int(parts[1])


def dataset_of_checkpoint(meta: dict, data_dir: str | None = None) -> Dataset:
    """The data set a checkpoint was trained on (its ``dataset`` field; digits by default), at
    the checkpoint's input size and class count for ``synthetic``."""
    hw = meta.get("input_hw") or [224, 224]
    return load_dataset(meta.get("dataset", "digits"), data_dir, input_size=int(hw[0]),
                        num_classes=int(meta.get("num_classes", 1000)))


__all__ = ["DATASETS", "Dataset", "Preprocessing", "dataset_of_checkpoint", "load_cifar10",
           "load_dataset", "load_digits", "load_digits_affine", "load_synthetic", "synthetic_sizes"]
