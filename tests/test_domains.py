"""Offline domains of a base data set, and the image-folder / .npz reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pimsim.data import load_digits
from pimsim.data.domains import DOMAINS, make_domain
from pimsim.data.folder import load_folder
from pimsim.errors import PimsimError


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_domains_are_the_named_transforms(digits):
    x = digits.test_x
    torch.testing.assert_close(make_domain("source", digits).test_x, x)
    torch.testing.assert_close(make_domain("rotate", digits).test_x, torch.rot90(x, 1, (2, 3)))
    torch.testing.assert_close(make_domain("flip", digits).test_x, x.flip(3))
    torch.testing.assert_close(make_domain("invert", digits).test_x, 1 - x)  # digits: 0..1
    blur = make_domain("blur", digits).test_x
    w = torch.tensor([np.exp(-0.5), 1.0, np.exp(-0.5)], dtype=torch.float32)
    k = torch.outer(w, w) / torch.outer(w, w).sum()
    torch.testing.assert_close(blur[0, 0, 3, 3], (x[0, 0, 2:5, 2:5] * k).sum())
    noisy = make_domain("noise", digits)
    assert 0.4 < float((noisy.train_x - digits.train_x).std() / digits.train_x.std()) < 0.6
    for name in DOMAINS:  # labels unchanged, the base set untouched
        d = make_domain(name, digits)
        assert torch.equal(d.train_y, digits.train_y) and d.name == f"digits-{name}"
    assert torch.equal(digits.test_x, x)


def test_domains_are_deterministic_and_seeded(digits):
    a, b = make_domain("noise", digits, seed=3), make_domain("noise", digits, seed=3)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_x, b.test_x)
    assert not torch.equal(a.train_x, make_domain("noise", digits, seed=4).train_x)


def test_unknown_domain_is_one_line(digits):
    with pytest.raises(PimsimError, match=r"--domains: unknown domain 'sepia'; choose from"):
        make_domain("sepia", digits)


def _png_folder(root, classes=("cat", "dog"), per_class=4, mode="RGB"):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            shape = (12, 10, 3) if mode == "RGB" else (12, 10)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
                root / c / f"{i}.png")
    return root


def test_folder_reads_classes_resized_and_split(tmp_path):
    root = _png_folder(tmp_path / "set")
    data = load_folder(root, channels=1, size=8)
    assert data.num_classes == 2 and data.train_x.shape[1:] == (1, 8, 8)
    assert len(data.train_y) == 6 and len(data.test_y) == 2  # 25 % of each class
    assert sorted(data.test_y.tolist()) == [0, 1]
    assert 0 <= float(data.train_x.min()) and float(data.train_x.max()) <= 1
    rgb = load_folder(root, channels=3, size=8)
    assert rgb.train_x.shape[1:] == (3, 8, 8)
    again = load_folder(root, channels=1, size=8)
    assert torch.equal(again.train_x, data.train_x)


def test_npz_reads_arrays(tmp_path):
    path = tmp_path / "d.npz"
    x = np.random.default_rng(0).integers(0, 256, (20, 8, 8), dtype=np.uint8)
    np.savez(path, x=x, y=np.arange(20) % 4)
    data = load_folder(path, channels=1, size=8)
    assert data.num_classes == 4 and len(data.train_y) + len(data.test_y) == 20
    idx = data.train_y  # the values are the pixels / 255
    assert float(data.train_x.max()) <= 1 and idx.dtype == torch.int64


@pytest.mark.parametrize("make, message", [
    (lambda r: r.mkdir(), "no class folders"),
    (lambda r: (r / "a").mkdir(parents=True), "class folder holds no PNG/JPEG images"),
    (lambda r: (r / "a").mkdir(parents=True) or (r / "a" / "x.png").write_text("no"),
     "not a readable PNG/JPEG image"),
    (lambda r: (r / "$bad").mkdir(parents=True), "class folder name must be"),
])
def test_folder_errors_are_one_line(tmp_path, make, message):
    root = tmp_path / "set"
    make(root)
    with pytest.raises(PimsimError, match=message) as info:
        load_folder(root, channels=1, size=8)
    assert "\n" not in str(info.value)


def test_folder_does_not_follow_links_out(tmp_path):
    outside = _png_folder(tmp_path / "outside", classes=("x",))
    root = _png_folder(tmp_path / "set")
    (root / "linked").symlink_to(outside / "x")  # a class folder that escapes
    (root / "cat" / "escape.png").symlink_to(outside / "x" / "0.png")
    data = load_folder(root, channels=1, size=8)
    assert data.num_classes == 2 and len(data.train_y) + len(data.test_y) == 8


def test_oversized_inputs_are_refused_before_reading(tmp_path, monkeypatch):
    import pimsim.data.folder as folder

    root = _png_folder(tmp_path / "set")
    monkeypatch.setattr(folder, "MAX_PIXELS", 100)
    with pytest.raises(PimsimError, match="10x12 pixels"):
        load_folder(root, channels=1, size=8)
    with pytest.raises(PimsimError, match="GiB of memory"):
        load_folder(root, channels=3, size=40_000)
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((2, 8, 8), dtype=object), y=np.zeros(2, dtype=int))
    with pytest.raises(PimsimError, match="do not load without pickle"):
        load_folder(path, channels=1, size=8)
