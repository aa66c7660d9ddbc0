"""The bit-sliced fast kernel: vector intrinsics, multi-block layers, the accumulator bound."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from numba.core.errors import TypingError

from pimsim.device import simd
from pimsim.device.bitserial import (
    bitserial_conv2d,
    bitserial_linear,
    conv2d_int64,
    im2col_offsets,
    value_range,
)
from pimsim.device.bitsliced import BLOCK_PIXELS, accumulator_capacity, weight_bit_lists
from pimsim.device.simd import vgather, vload, vmaj, vstore, vxor3


def _ternary_kernel():
    """A fresh (uncached) kernel: the intrinsics' code is generated when it compiles."""

    @njit(cache=False)
    def kernel(a, b, c, offsets, out):
        x, y, z = vload(a, 0), vload(b, 0), vload(c, 0)
        vstore(out, 0, vxor3(x, y, z))
        vstore(out, 8, vmaj(x, y, z))
        vstore(out, 16, vgather(a, offsets, 0, 1))

    return kernel


@pytest.mark.parametrize("avx512", [True, False])
def test_vector_intrinsics(monkeypatch, avx512):
    """xor3 and majority per bit, on the AVX-512 ternlog path and on the generic IR path."""
    asked = []
    if not avx512:
        monkeypatch.setattr(simd, "_has_avx512", lambda context: asked.append(1) and False)
    rng = np.random.default_rng(0)
    a, b, c = (rng.integers(0, 2**63, 8, dtype=np.uint64) * np.uint64(3) for _ in range(3))
    offsets = np.array([6, 0, 3, 1, 5, 2, 4, 0], np.int64)
    out = np.zeros(24, np.uint64)
    _ternary_kernel()(a, b, c, offsets, out)
    assert np.array_equal(out[:8], a ^ b ^ c)
    assert np.array_equal(out[8:16], (a & b) | (a & c) | (b & c))
    assert np.array_equal(out[16:], a[offsets + 1])
    assert len(asked) == (0 if avx512 else 2)  # the generic code was generated


def test_intrinsics_refuse_other_arrays():
    """Typing refuses what the unchecked loads would misread: 32-bit words, strided arrays."""

    @njit(cache=False)
    def first_lanes(a):
        out = np.zeros(8, np.uint64)
        vstore(out, 0, vload(a, 0))
        return out

    assert np.array_equal(first_lanes(np.arange(8, dtype=np.int64)), np.arange(8))
    for bad in (np.zeros(8, np.int32), np.zeros(16, np.int64)[::2]):
        with pytest.raises(TypingError):
            first_lanes(bad)


@pytest.mark.parametrize(
    ("shape_x", "stride", "padding", "bits", "signed"),
    [
        ((2, 5, 23, 24), 1, 1, (8, 8), (False, True)),  # 1104 pixels: 3 blocks, contiguous loads
        ((3, 4, 27, 19), 2, 1, (16, 16), (True, True)),  # 420 pixels, gathers (stride 2)
        ((1, 3, 40, 37), 1, 0, (3, 5), (True, False)),  # rows of 35: groups cross rows
    ],
)
def test_multi_block_layers_exact(shape_x, stride, padding, bits, signed):
    rng = np.random.default_rng(5)
    lo, hi = value_range(bits[0], signed[0])
    x = rng.integers(lo, hi + 1, shape_x)
    lo, hi = value_range(bits[1], signed[1])
    w = rng.integers(lo, hi + 1, (6, shape_x[1], 3, 3))
    out, _ = bitserial_conv2d(x, w, stride, padding, *bits, *signed)
    assert np.array_equal(out, conv2d_int64(x, w, stride, padding))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(8, 40), w=st.integers(8, 40),
    k=st.integers(1, 3), stride=st.integers(1, 3), padding=st.integers(0, 2),
    x_bits=st.integers(1, 16), w_bits=st.integers(1, 16), x_signed=st.booleans(),
    w_signed=st.booleans(), seed=st.integers(0, 2**32 - 1),
)
def test_many_pixel_layers_bit_exact(n, c, h, w, k, stride, padding, x_bits, w_bits, x_signed,
                                     w_signed, seed):
    """Up to 4800 pixels: several 512-pixel blocks, a partial last block, contiguous and
    gathered pixel groups."""
    rng = np.random.default_rng(seed)
    lo, hi = value_range(x_bits, x_signed)
    x = rng.integers(lo, hi + 1, (n, c, h, w))
    lo, hi = value_range(w_bits, w_signed)
    wt = rng.integers(lo, hi + 1, (5, c, k, k))
    out, _ = bitserial_conv2d(x, wt, stride, padding, x_bits, w_bits, x_signed, w_signed)
    assert np.array_equal(out, conv2d_int64(x, wt, stride, padding))


def test_padding_pixels_never_look_contiguous():
    """6 pixels at offsets 0 1 3 4 6 7: had the padding repeated the last offset (7), the
    group of 8 would span 7 and be loaded as contiguous."""
    x, w = np.ones((1, 1, 2, 1), np.int64), np.ones((1, 1, 2, 2), np.int64)
    out, _ = bitserial_conv2d(x, w, 1, 1, 1, 1, False, False)
    assert out.ravel().tolist() == [1, 1, 2, 2, 1, 1]


@pytest.mark.parametrize("x_signed", [True, False])
def test_worst_case_accumulator(x_signed):
    """16-bit extremes over 4608 rows, every weight bit set (the most carries): exact."""
    lo, hi = value_range(16, x_signed)
    x = np.full((1, 512, 4, 4), lo if x_signed else hi, np.int64)
    w = np.full((2, 512, 3, 3), -1, np.int64)  # all 16 bits set
    w[1] = -(1 << 15)
    out, _ = bitserial_conv2d(x, w, 1, 1, 16, 16, x_signed, True)
    assert np.array_equal(out, conv2d_int64(x, w, 1, 1))


def test_empty_batch():
    x, w = np.zeros((0, 2, 4, 4), np.int64), np.ones((3, 2, 3, 3), np.int64)
    out, events = bitserial_conv2d(x, w, 1, 1)
    assert out.shape == (0, 3, 4, 4) and events.and2_senses == 0 and events.row_writes == 0
    out, _ = bitserial_linear(np.zeros((0, 5), np.int64), np.ones((2, 5), np.int64))
    assert out.shape == (0, 2)


def test_cached_offsets_stay_read_only():
    row, pixel = im2col_offsets((1, 2, 6, 6), 3, 3, 1, 4, 4, BLOCK_PIXELS)
    with pytest.raises(ValueError):
        pixel.flags.writeable = True
    assert pixel.size == BLOCK_PIXELS and set(pixel[16:]) == {pixel[0]}


def test_weight_bit_lists_and_capacity():
    w = np.array([[5, 0, 7, 1], [-1, -1, 0, 2]], np.int64)  # 3 bits, two's complement
    masks = np.empty(2 * 3, np.uint64)
    offsets = np.empty(2 * 3 * 16, np.int32)
    starts = weight_bit_lists(w, 3, 10, 99, masks, offsets)
    lists = [offsets[starts[i] : starts[i + 1]] for i in range(6)]
    assert [lst.size for lst in lists] == [16] * 6
    assert list(lists[0][:4]) == [0, 20, 30, 99]  # bit 0 of channel 0: rows 0, 2, 3
    assert list(lists[1][:2]) == [20, 99]  # bit 1: row 2
    assert list(lists[4][:3]) == [0, 10, 30]  # bit 1 of channel 1: rows 0, 1, 3
    assert set(lists[0][3:]) == {99}
    # 4 rows: per activation plane 3 x (1 + 1) + 10 pushes, 48 in all
    assert accumulator_capacity(4, 3, 3, 4) == 3 + 3 + 4 + (48).bit_length()


def test_results_do_not_share_scratch_memory():
    rng = np.random.default_rng(2)
    x1, w1 = rng.integers(0, 256, (1, 8, 30, 30)), rng.integers(-128, 128, (4, 8, 3, 3))
    x2, w2 = rng.integers(0, 256, (1, 16, 12, 12)), rng.integers(-128, 128, (3, 16, 3, 3))
    first, _ = bitserial_conv2d(x1, w1, 1, 1)
    kept = first.copy()
    second, _ = bitserial_conv2d(x2, w2, 1, 1)
    assert np.array_equal(first, kept) and first.shape[2] * first.shape[3] > BLOCK_PIXELS
    assert np.array_equal(second, conv2d_int64(x2, w2, 1, 1))


@pytest.mark.slow
def test_accumulator_stays_in_bounds(tmp_path):
    """Worst cases compiled with numba's bounds checking (a fresh cache): the accumulator's
    carries never index past :func:`accumulator_capacity` levels."""
    script = """
import os
import subprocess
import sys

import numpy as np
from pimsim.device.bitserial import (
    bitserial_conv2d,
    bitserial_linear,
    conv2d_int64,
    im2col_offsets,
    value_range,
)
for bits, x_signed, w_signed in [(16, True, True), (16, False, True), (3, False, False)]:
    for pick in (0, 1):
        x = np.full((1, 300, 5, 5), value_range(bits, x_signed)[pick], np.int64)
        w = np.full((2, 300, 3, 3), value_range(bits, w_signed)[pick], np.int64)
        out, _ = bitserial_conv2d(x, w, 1, 1, bits, bits, x_signed, w_signed)
        assert np.array_equal(out, conv2d_int64(x, w, 1, 1))
"""
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
