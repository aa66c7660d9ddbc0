"""The integer executor's numpy primitives (int64 arithmetic): sliding windows, the numpy
GEMM accumulator of the reference executor and the output stage of weight layers.

Each op's own arithmetic is its entry in :mod:`pimsim.quantize.ops`; the graph walk is
:meth:`pimsim.quantize.IntGraph.run_all`, whose weight layers take their accumulator from a
pluggable :data:`Accumulate` (:func:`numpy_accumulate` here, the bit-serial PIM kernel in
:mod:`pimsim.simulate.pim_execute`).

:func:`numpy_accumulate` computes an im2col matrix product. It runs as a float64 BLAS product
when every partial sum is provably exact, i.e. ``K * max|x| * max|w| < 2**53`` (K = C_in * kh *
kw of the GEMM; every product and partial sum is then an integer below 2**53, exactly
representable whatever the summation order), else as an int64 product.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pimsim.quantize.layer import IntLayer
from pimsim.quantize.requant import qrange, requantize_channels

EXACT_FLOAT64 = 1 << 53

Accumulate = Callable[[IntLayer, np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]],
                      np.ndarray]
"""``(layer, x (N, C, H, W), w (O, C, kh, kw), stride, padding) -> acc (O, N, H', W')``: the
exact int64 accumulator ``sum x * w`` (zero padding, no bias) of one GEMM of ``layer``,
channel-major."""


def out_clamp(y: np.ndarray, layer: IntLayer) -> np.ndarray:
    """Clamp to the output range of ``layer`` (``out_bits``, ``out_signed``)."""
    lo, hi = qrange(layer.out_bits, layer.out_signed)
    return np.clip(y, lo, hi)


def windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, int],
            padding: tuple[int, int], fill: int) -> np.ndarray:
    """``(N, C, H_out, W_out, kh, kw)`` view of the padded input's sliding windows."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    return sliding_window_view(x, tuple(kernel), axis=(2, 3))[:, :, ::sh, ::sw]


def numpy_accumulate(layer: IntLayer, x: np.ndarray, w: np.ndarray, stride: tuple[int, int],
                     padding: tuple[int, int]) -> np.ndarray:
    """The reference :data:`Accumulate`: ``w (O, K) @ im2col(x) (K, P)`` exactly, in numpy."""
    win = windows(x, w.shape[2:], stride, padding, 0)
    n, c, ho, wo, kh, kw = win.shape
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    w2d = w.reshape(w.shape[0], -1)
    lo, hi = qrange(layer.in_bits, layer.in_signed)
    bound = cols.shape[1] * max(-lo, hi) * (1 << (layer.weight_bits - 1))
    if bound < EXACT_FLOAT64:
        acc = (w2d.astype(np.float64) @ cols.astype(np.float64).T).astype(np.int64)
    else:
        acc = w2d.astype(np.int64) @ cols.astype(np.int64).T
    return acc.reshape(-1, n, ho, wo)


def finish(layer: IntLayer, acc: np.ndarray) -> np.ndarray:
    """``clamp(requantize(acc + bias, M, shift))`` per output channel of a channel-major
    accumulator (clamping at 0 is the fused ReLU); returns channels on axis 1."""
    lo, hi = qrange(layer.out_bits, layer.out_signed)
    y = requantize_channels(acc, layer.bias, layer.multiplier, layer.shift, lo, hi)
    return y.swapaxes(0, 1)
