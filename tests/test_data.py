import pickle

import numpy as np
import pytest
import torch

from pimsim.data import load_cifar10, load_dataset, load_digits, load_synthetic
from pimsim.data.cifar10 import MEAN, STD, TEST_FILE, TRAIN_FILES, crop_flip
from pimsim.errors import PimsimError


def test_digits_split_is_fixed_and_stratified():
    a, b = load_digits(), load_digits()
    assert a.train_x.shape == (1347, 1, 8, 8) and a.test_x.shape == (450, 1, 8, 8)
    assert torch.equal(a.test_y, b.test_y) and torch.equal(a.train_x, b.train_x)
    assert 0.0 <= float(a.train_x.min()) and float(a.train_x.max()) <= 1.0
    counts = torch.bincount(a.test_y, minlength=10)
    assert int(counts.min()) >= 43 and int(counts.max()) <= 47  # stratified: ~45 per class


def _write_cifar(root, n=4, seed=0):
    rng = np.random.default_rng(seed)
    batches = {}
    for name in (*TRAIN_FILES, TEST_FILE):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        batches[name] = (data, labels)
        with open(root / name, "wb") as fh:
            # the real files are Python-2 pickles with bytes keys
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, fh, protocol=2)
    return batches


def test_cifar10_reader_on_small_pickle_batches(tmp_path):
    batches = _write_cifar(tmp_path)
    ds = load_cifar10(tmp_path)
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (4, 3, 32, 32)
    data, labels = batches["data_batch_2"]
    pixel = data[1].reshape(3, 32, 32)[:, 5, 7] / 255.0
    expect = (pixel - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(ds.train_x[5, :, 5, 7].numpy(), expect, rtol=1e-5)
    assert ds.train_y[5] == labels[1] and ds.augment is crop_flip


def test_cifar10_reader_accepts_parent_folder(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    _write_cifar(sub)
    assert load_dataset("cifar10", str(tmp_path)).test_x.shape[0] == 4


def test_cifar10_missing_files_and_directory(tmp_path):
    with pytest.raises(PimsimError, match="CIFAR-10 directory not found"):
        load_cifar10(tmp_path / "nope")
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(PimsimError, match="missing CIFAR-10 batch file.*data_batch_3"):
        load_cifar10(tmp_path)
    with pytest.raises(PimsimError, match="--data-dir: required"):
        load_dataset("cifar10")


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_cifar10_reader_refuses_pickles_that_run_code(tmp_path, capsys):
    _write_cifar(tmp_path)
    with open(tmp_path / TEST_FILE, "wb") as fh:
        pickle.dump({b"data": _Evil(), b"labels": []}, fh)
    with pytest.raises(PimsimError, match="refused to load builtins.print"):
        load_cifar10(tmp_path)
    assert "executed" not in capsys.readouterr().out


def test_cifar10_bad_shape(tmp_path):
    _write_cifar(tmp_path)
    with open(tmp_path / TEST_FILE, "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(PimsimError, match="test_batch: data: expected N x 3072"):
        load_cifar10(tmp_path)


def test_crop_flip_is_a_shifted_possibly_flipped_crop():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32) + 1
    y = crop_flip(x, g)
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(2):
        found = False
        for dy in range(9):
            for dx in range(9):
                win = padded[i, :, dy:dy + 32, dx:dx + 32]
                found |= torch.equal(y[i], win) or torch.equal(y[i], win.flip(-1))
        assert found


def test_synthetic_any_shape_and_seeded():
    a = load_synthetic((3, 64, 48), num_classes=5, train_size=4, test_size=2, seed=3)
    b = load_synthetic((3, 64, 48), num_classes=5, train_size=4, test_size=2, seed=3)
    assert a.train_x.shape == (4, 3, 64, 48) and a.image_hw == (64, 48)
    assert torch.equal(a.train_x, b.train_x) and int(a.train_y.max()) < 5
    assert load_dataset("synthetic", input_size=16, num_classes=3).test_x.shape[1:] == (3, 16, 16)


def test_unknown_dataset():
    with pytest.raises(PimsimError, match="--dataset: unknown data set 'mnist'"):
        load_dataset("mnist")
