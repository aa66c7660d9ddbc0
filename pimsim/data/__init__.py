"""Data sets: ``digits`` (the default, bundled), ``cifar10`` (a directory you name),
``synthetic`` (random tensors of any shape)."""

from __future__ import annotations

from pimsim.data.base import Dataset, Preprocessing
from pimsim.data.cifar10 import load_cifar10
from pimsim.data.digits import load_digits
from pimsim.data.synthetic import load_synthetic
from pimsim.errors import PimsimError

DATASETS = ("digits", "cifar10", "synthetic")


def load_dataset(name: str, data_dir: str | None = None,
                 input_size: int = 224, num_classes: int = 1000) -> Dataset:
    """Load a data set by name. ``cifar10`` needs ``data_dir``; ``synthetic`` uses
    3 x ``input_size`` x ``input_size`` images and ``num_classes`` classes."""
    if name == "digits":
        return load_digits()
    if name == "cifar10":
        if data_dir is None:
            raise PimsimError("--data-dir: required for cifar10 (pimsim never downloads data)")
        return load_cifar10(data_dir)
    if name == "synthetic":
        return load_synthetic((3, input_size, input_size), num_classes)
    raise PimsimError(f"--dataset: unknown data set {name!r}; choose one of {', '.join(DATASETS)}")


def dataset_of_checkpoint(meta: dict, data_dir: str | None = None) -> Dataset:
    """The data set a checkpoint was trained on (its ``dataset`` field; digits by default), at
    the checkpoint's input size and class count for ``synthetic``."""
    hw = meta.get("input_hw") or [224, 224]
    return load_dataset(meta.get("dataset", "digits"), data_dir, input_size=int(hw[0]),
                        num_classes=int(meta.get("num_classes", 1000)))


__all__ = ["DATASETS", "Dataset", "Preprocessing", "dataset_of_checkpoint", "load_cifar10",
           "load_dataset", "load_digits", "load_synthetic"]
