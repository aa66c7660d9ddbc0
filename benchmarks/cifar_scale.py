"""CIFAR-10-size end-to-end check: bit-exact simulation of every resnet20 sub-net on 10,000
32x32x3 test images in bounded memory.

Run: ``.venv/bin/python benchmarks/cifar_scale.py`` (``--images N`` for fewer test images,
``--memory-check`` for the 500- vs 2,000-image peak-memory comparison). Steps:
1. Write CIFAR-10-format python-pickle batches (``data_batch_1..5`` with ``--train-images`` in
   all, ``test_batch`` with ``--images``; random uint8 content, seeded) into a temporary folder:
   they are read by pimsim's real reader (:func:`pimsim.data.load_cifar10`).
2. ``pimsim train --dataset cifar10``: 1 epoch of resnet20, widths 0.25/0.5/0.75/1.0, on the
   small training set (accuracy is not the point).
3. ``pimsim simulate --bits 8`` (post-training calibration, every sub-net bit-exact on every
   test image, the first 1,000 also checked against the integer executor) in a child process:
   its wall time and peak resident memory (``os.wait4``'s ``ru_maxrss``: the child and what it
   waited for). Targets (issue #15, 10,000 images on 2 cores): < 10 min, < 2 GB.
4. PIM-to-torch-float time ratio on the same ``--ratio-images`` first test images: bit-serial
   PIM inference of each 8-bit sub-net (:func:`pimsim.simulate.stream.run_shard`, no check)
   against torch float32 inference of the exported sub-net, 2 threads. Target: at most 6x.
With ``--memory-check``: step 3 with 500 and with 2,000 images; target: peak memory within
1.2x.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CLASSES = 10


def write_cifar_batches(folder: Path, train_images: int, test_images: int,
                        seed: int = 0) -> None:
    """``data_batch_1..5`` and ``test_batch`` as CIFAR-10's python pickles (bytes keys,
    ``data``: N x 3072 uint8, ``labels``: a list), random content."""
    rng = np.random.default_rng(seed)
    per_file = np.array_split(np.arange(train_images), 5)
    files = {f"data_batch_{i + 1}": len(part) for i, part in enumerate(per_file)}
    files["test_batch"] = test_images
    for name, n in files.items():
        batch = {b"batch_label": name.encode(),
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, CLASSES, n).tolist()}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)


def pimsim(*argv: str, threads: int) -> tuple[float, float]:
    """Run ``python -m pimsim ARGV``: (wall s, peak RSS in GB of the child and its children)."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads),
                        "NUMBA_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pimsim", *argv], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"pimsim {' '.join(argv)}: exit {proc.returncode}")
    return wall, usage.ru_maxrss * 1024 / 1e9  # KiB on Linux


def simulate(run: Path, data: Path, images: int, out: Path, threads: int) -> tuple[float, float]:
    return pimsim("simulate", "--checkpoint", str(run / "model.pt"), "--bits", "8",
                  "--data-dir", str(data), "--limit", str(images), "--out", str(out),
                  threads=threads)


def ratio(run: Path, data: Path, images: int, threads: int) -> None:
    """PIM and torch float time per sub-net on the first ``images`` test images."""
    from pimsim.data import load_cifar10
    from pimsim.mapper import load_mapping
    from pimsim.quantize import export_subnet_int
    from pimsim.simulate.quantized import load_quantized
    from pimsim.simulate.stream import run_shard
    from pimsim.train import load_checkpoint

    torch.set_num_threads(threads)
    model, _, _ = load_quantized(str(run / "model.pt"), 8, str(data), 4)
    float_model, _ = load_checkpoint(run / "model.pt")
    test = load_cifar10(data)
    x, y = test.test_x[:images], test.test_y[:images]
    chip = load_mapping().chip
    print(f"\nPIM vs torch float32 on the first {images} test images, {threads} threads (s)")
    print(f"{'sub-net':>8} {'torch fp32':>11} {'PIM bit-serial':>15} {'ratio':>7}")
    total_t = total_p = 0.0
    for spec in model.subnets:
        plain = float_model.export_subnet(spec).eval()
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, images, 256):
                plain(x[i:i + 256])
        t_torch = time.perf_counter() - t
        graph = export_subnet_int(model, spec, test.image_hw)
        run_shard(graph, x[:2].numpy(), y[:2].numpy(), chip.rows, chip.cols, None, 2, 0)
        t = time.perf_counter()
        run_shard(graph, x.numpy(), y.numpy(), chip.rows, chip.cols, None, 64, 0)
        t_pim = time.perf_counter() - t
        total_t, total_p = total_t + t_torch, total_p + t_pim
        print(f"{spec.name:>8} {t_torch:11.3f} {t_pim:15.3f} {t_pim / t_torch:7.1f}")
    print(f"{'all':>8} {total_t:11.3f} {total_p:15.3f} {total_p / total_t:7.1f}  (target <= 6)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="test images (10,000)")
    parser.add_argument("--train-images", type=int, default=512)
    parser.add_argument("--ratio-images", type=int, default=1000,
                        help="images for the PIM-to-float ratio (default 1000; 0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-check", action="store_true",
                        help="peak memory of simulate on 500 vs 2,000 images instead")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # lines in order with the children's
    with tempfile.TemporaryDirectory(prefix="cifar_scale_") as tmp:
        tmp_path = Path(tmp)
        data, run = tmp_path / "cifar", tmp_path / "run"
        data.mkdir()
        images = 2000 if args.memory_check else args.images
        write_cifar_batches(data, args.train_images, images)
        wall, _ = pimsim("train", "--dataset", "cifar10", "--data-dir", str(data), "--epochs",
                         "1", "--widths", "0.25,0.5,0.75,1.0", "--quiet", "--out", str(run),
                         threads=args.threads)
        print(f"train: 1 epoch on {args.train_images} images: {wall:.1f} s")
        if args.memory_check:
            peaks = {}
            for n in (500, 2000):
                wall, peaks[n] = simulate(run, data, n, tmp_path / f"sim{n}", args.threads)
                print(f"simulate {n} images: {wall:.1f} s, peak RSS {peaks[n]:.3f} GB")
            print(f"peak RSS 2000 / 500 images: {peaks[2000] / peaks[500]:.3f} "
                  "(target <= 1.2)")
            return
        wall, peak = simulate(run, data, images, tmp_path / "sim", args.threads)
        print(f"simulate: resnet20, 4 sub-nets, 8 bits, {images} images of 32x32x3, bit-exact, "
              f"{args.threads} threads: {wall:.1f} s (target < 600 s at 10,000), peak RSS "
              f"{peak:.3f} GB (target < 2 GB)")
        if args.ratio_images:
            ratio(run, data, min(args.ratio_images, images), args.threads)


if __name__ == "__main__":
    main()
