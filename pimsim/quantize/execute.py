"""The integer reference executor: one numpy function per layer op, int64 arithmetic.

Convolutions are im2col matrix products. They run as float64 BLAS products when every partial
sum is provably exact, i.e. ``K * max|x| * max|w| < 2**53`` (K = C_in * kh * kw; every product
and partial sum is then an integer below 2**53, exactly representable whatever the summation
order), else as int64 products; both give the int64 accumulator ``acc``. Then
``y = clamp(requantize(acc + bias, M, shift), qmin, qmax)`` per output channel (clamping at 0
is the fused ReLU). Additions: ``y = clamp(requantize(a * M_a + b * M_b, 1, shift))``; average
pools: ``y = clamp(requantize(sum, M, shift))`` with ``M * 2**-shift ~= 1 / n``; max pools pad
with the smallest integer; ReLU clamps at 0; flatten keeps (C, H, W) order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pimsim.quantize.requant import qrange, requantize, requantize_sum

if TYPE_CHECKING:
    from pimsim.quantize.intgraph import IntLayer

EXACT_FLOAT64 = 1 << 53


def _out_clamp(y: np.ndarray, layer: IntLayer) -> np.ndarray:
    lo, hi = qrange(layer.out_bits, layer.out_signed)
    return np.clip(y, lo, hi)


def _matmul(cols: np.ndarray, weight: np.ndarray, layer: IntLayer) -> np.ndarray:
    """``cols (R, K) @ weight (O, K).T`` exactly, in int64."""
    lo, hi = qrange(layer.in_bits, layer.in_signed)
    bound = cols.shape[1] * max(-lo, hi) * (1 << (layer.weight_bits - 1))
    if bound < EXACT_FLOAT64:
        return (cols.astype(np.float64) @ weight.astype(np.float64).T).astype(np.int64)
    return cols.astype(np.int64) @ weight.astype(np.int64).T


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int], fill: int) -> np.ndarray:
    """``(N, C, H_out, W_out, kh, kw)`` view of the padded input's sliding windows."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, ::sh, ::sw]


def conv(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    win = _windows(x, layer.kernel, layer.stride, layer.padding, 0)
    n, c, ho, wo, kh, kw = win.shape
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    acc = _matmul(cols, layer.weight.reshape(layer.weight.shape[0], -1), layer) + layer.bias
    y = _out_clamp(requantize(acc, layer.multiplier, layer.shift), layer)
    return y.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def linear(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    acc = _matmul(x, layer.weight, layer) + layer.bias
    return _out_clamp(requantize(acc, layer.multiplier, layer.shift), layer)


def add(layer: IntLayer, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = qrange(layer.out_bits, layer.out_signed)
    return requantize_sum(a, b, int(layer.multiplier[0]), int(layer.multiplier[1]),
                          int(layer.shift[0]), lo, hi)


def relu(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def maxpool(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    fill = np.iinfo(np.int64).min
    return _windows(x, layer.kernel, layer.stride, layer.padding, fill).max(axis=(4, 5))


def avgpool(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    total = _windows(x, layer.kernel, layer.stride, (0, 0), 0).sum(axis=(4, 5))
    return _out_clamp(requantize(total, layer.multiplier[0], layer.shift[0]), layer)


def flatten(layer: IntLayer, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


OPS = {"conv": conv, "linear": linear, "add": add, "relu": relu, "maxpool": maxpool,
       "avgpool": avgpool, "flatten": flatten}
