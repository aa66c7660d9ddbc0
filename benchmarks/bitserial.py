"""Bit-serial kernel speed: 3x3 conv, 64 -> 64 channels, 32x32, batch 1, padding 1.

Times, in one run on the same inputs: torch float32 conv2d, a numpy int64 im2col GEMM, and the
exact bit-serial kernel at 8 bits and 16 bits (each including its bit-plane packing), all on 2
threads. Prints best and median of the repeats and the ratios, then the 8-bit kernel's stages
timed one by one. Run: python benchmarks/bitserial.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numba
import numpy as np
import torch

from pimsim.device import cost, load_device_params
from pimsim.device.bitops import n_words
from pimsim.device.bitserial import _pad_copy, bitserial_conv2d, conv2d_int64, im2col_offsets
from pimsim.device.bitsliced import (
    BLOCK_PIXELS,
    GROUP,
    accumulator_capacity,
    accumulator_levels,
    bitsliced_gemm,
    pack_pixel_planes,
    weight_bit_lists,
)
from pimsim.device.simd import LANES


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> tuple[float, float]:
    """Best and median wall time in ms after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times), statistics.median(times)


def stage_timings(x: np.ndarray, w: np.ndarray, repeats: int) -> dict[str, float]:
    """Best ms of each stage of :func:`bitserial_conv2d` at 8 bits, padding 1, on its own."""
    shape = (x.shape[0], x.shape[1], x.shape[2] + 2, x.shape[3] + 2)
    xpad = np.empty(shape, np.int64)
    _pad_copy(x, 1, xpad)
    oh, ow = x.shape[2], x.shape[3]
    row_off, pixel_off = im2col_offsets(shape, 3, 3, 1, oh, ow, BLOCK_PIXELS)
    rows, pixels, w2d = row_off.size, x.shape[0] * oh * ow, w.reshape(w.shape[0], -1)
    xs = np.empty(pixel_off.size // BLOCK_PIXELS * 8 * (rows + 1) * LANES, np.uint64)
    masks = np.empty(w2d.shape[0] * 8 * n_words(rows), np.uint64)
    offsets = np.empty(w2d.shape[0] * 8 * -(-rows // GROUP) * GROUP, np.int32)
    starts = weight_bit_lists(w2d, 8, LANES, rows * LANES, masks, offsets)
    levels = accumulator_levels(rows, 8, 8)
    capacity = accumulator_capacity(rows, 8, 8, levels)
    out = np.empty((w2d.shape[0], pixels), np.int64)
    pack_pixel_planes(xpad.reshape(-1), row_off, pixel_off, 8, xs)
    return {
        "zero padding": timed(lambda: _pad_copy(x, 1, xpad), repeats)[0],
        "activation bit-plane packing": timed(
            lambda: pack_pixel_planes(xpad.reshape(-1), row_off, pixel_off, 8, xs), repeats)[0],
        "weight-bit lists": timed(
            lambda: weight_bit_lists(w2d, 8, LANES, rows * LANES, masks, offsets), repeats)[0],
        "carry-save AND + bit-count": timed(
            lambda: bitsliced_gemm(xs, starts, offsets, 8, 8, True, False, levels, capacity, out),
            repeats)[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    shape_x, shape_w = (1, 64, 32, 32), (64, 64, 3, 3)
    xf, wf = torch.randn(shape_x), torch.randn(shape_w)
    x8, w8 = rng.integers(0, 256, shape_x), rng.integers(-128, 128, shape_w)
    x16, w16 = rng.integers(0, 1 << 16, shape_x), rng.integers(-(1 << 15), 1 << 15, shape_w)
    reference = conv2d_int64(x8, w8, 1, 1)
    assert np.array_equal(bitserial_conv2d(x8, w8, 1, 1, 8, 8)[0], reference)
    assert np.array_equal(bitserial_conv2d(x16, w16, 1, 1, 16, 16)[0], conv2d_int64(x16, w16, 1, 1))

    rows = {
        "torch float32 conv2d": timed(
            lambda: torch.nn.functional.conv2d(xf, wf, padding=1), args.repeats
        ),
        "numpy int64 im2col GEMM": timed(lambda: conv2d_int64(x8, w8, 1, 1), args.repeats),
        "bit-serial 8x8 bits": timed(lambda: bitserial_conv2d(x8, w8, 1, 1, 8, 8), args.repeats),
        "bit-serial 16x16 bits": timed(
            lambda: bitserial_conv2d(x16, w16, 1, 1, 16, 16), args.repeats
        ),
    }
    torch_best = rows["torch float32 conv2d"][0]
    numpy_best = rows["numpy int64 im2col GEMM"][0]
    print(f"3x3 conv 64->64 on 32x32, batch 1, {args.threads} threads, {args.repeats} repeats")
    print(f"{'kernel':<26}{'best ms':>9}{'median ms':>11}{'/ torch':>9}{'/ numpy':>9}")
    for name, (best, median) in rows.items():
        print(f"{name:<26}{best:>9.3f}{median:>11.3f}{best / torch_best:>9.2f}"
              f"{best / numpy_best:>9.2f}")
    ratio = rows["bit-serial 16x16 bits"][0] / rows["bit-serial 8x8 bits"][0]
    print(f"16-bit / 8-bit time: {ratio:.2f}")
    print("8-bit stages, each timed alone (best ms, share of their sum):")
    stages = stage_timings(x8, w8, args.repeats)
    total = sum(stages.values())
    for name, ms in stages.items():
        print(f"  {name:<34}{ms:>7.3f}{100 * ms / total:>6.0f} %")
    events = bitserial_conv2d(x8, w8, 1, 1, 8, 8)[1]
    print(f"8-bit events (256x256 sub-arrays): {events.and2_senses:,} AND2 senses, "
          f"{events.row_writes:,} row writes, {events.shift_adds:,} shift-adds")
    for preset in ("sot_mram_45nm", "stt_mram_45nm", "sram_45nm"):
        c = cost(events, load_device_params(preset))
        print(f"  {preset:<14} {c.total_energy_pj / 1e6:8.3f} uJ, "
              f"{c.total_latency_ns / 1e6:8.3f} ms if one sub-array ran every event in series")


if __name__ == "__main__":
    main()
