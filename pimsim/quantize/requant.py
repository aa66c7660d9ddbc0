"""Integer requantization: a real multiplier as ``M * 2**-shift`` and exact rounding shifts.

A real multiplier ``m`` (a ratio of scales, e.g. ``s_in * s_w / s_out``) is stored as an integer
``M`` in ``[2**30, 2**31)`` and a right shift, ``m ~= M * 2**-shift`` with relative error at most
``2**-31`` (the fixed-point scheme of gemmlowp/TFLite, Jacob et al., CVPR 2018, Sec. 2.2). The
rounding is *half up*: ``requantize(acc, M, shift) = floor((acc * M + 2**(shift-1)) / 2**shift)
= floor(acc * M / 2**shift + 1/2)``, the same rule as the fake quantizers
(``pimsim.quantize.fake_quant.round_half_up``). The product ``acc * M`` can need 93 bits; it is
formed exactly in int64 by splitting ``acc`` into 31-bit halves.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from pimsim.errors import PimsimError

MULT_BITS = 31
MAX_SHIFT = 62
_MASK31 = np.int64((1 << 31) - 1)


def quantize_multiplier(m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``(M, shift)`` int64 arrays with ``M * 2**-shift ~= m``: M has 31 significant bits
    (``2**30 <= M < 2**31``) unless ``m < 2**-32``, where the shift saturates at 62."""
    m = np.asarray(m, dtype=np.float64)
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise PimsimError(f"requantization: multipliers must be finite and > 0, got {m.min()}")
    shift = (MULT_BITS - 1) - np.floor(np.log2(m)).astype(np.int64)
    if np.any(shift < 0):
        raise PimsimError(f"requantization: multiplier {m.max():g} exceeds 2**31")
    shift = np.minimum(shift, MAX_SHIFT)
    mult = np.floor(np.ldexp(m, shift) + 0.5).astype(np.int64)
    carry = mult >= (1 << MULT_BITS)  # rounding carried into bit 31
    mult = np.where(carry, mult >> 1, mult)
    shift = np.where(carry, shift - 1, shift)
    return mult, shift


def requantize(acc: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """``floor((acc * M + 2**(shift-1)) / 2**shift)`` exactly, element-wise with broadcasting.

    Valid for ``|acc| < 2**62``, ``0 <= M < 2**31``, ``0 <= shift <= 62``. Results of magnitude
    below ``2**32`` are exact; larger ones saturate to a value of the same sign and magnitude of
    at least ``2**32`` (every caller then clamps to at most 16 bits).
    Derivation: ``acc = hi * 2**31 + lo`` with ``0 <= lo < 2**31``; ``low = lo * M + half``
    (< 2**63); ``top = hi * M + (low >> 31)``; ``acc * M + half = top * 2**31 + (low & mask)``,
    and ``floor((top * 2**31 + r) / 2**s)`` is ``top >> (s - 31)`` for ``s >= 31`` (as
    ``0 <= r < 2**31``), else ``top * 2**(31 - s) + (r >> s)``. Computed by a numba kernel.
    """
    arrays = [np.asarray(a, dtype=np.int64) for a in (acc, mult, shift)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    out = np.empty(shape, dtype=np.int64)
    if arrays[1].size == 1 and arrays[2].size == 1:  # one multiplier: no broadcast copies
        flat = np.ascontiguousarray(np.broadcast_to(arrays[0], shape)).reshape(-1)
        _requantize_scalar(flat, arrays[1].item(), arrays[2].item(), out.reshape(-1))
        return out
    flat = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in arrays]
    _requantize_flat(*flat, out.reshape(-1))
    return out


@njit(inline="always")
def _requantize_one(a, m, s):  # pragma: no cover - compiled
    """The formula of :func:`requantize` for one int64 value."""
    half = (np.int64(1) << (s - 1)) if s > 0 else np.int64(0)
    low = (a & _MASK31) * m + half
    top = (a >> 31) * m + (low >> 31)
    if s >= 31:
        return top >> (s - 31)
    # saturate: |top| <= 2**31 (+1 below) keeps |result| >= 2**32 and within int64
    top = min(max(top, -(np.int64(1) << 31) - 1), np.int64(1) << 31)
    return (top << (31 - s)) + ((low & _MASK31) >> s)


@njit(parallel=True, cache=True)
def _requantize_flat(acc, mult, shift, out):  # pragma: no cover - compiled
    for i in prange(acc.size):
        out[i] = _requantize_one(acc[i], mult[i], shift[i])


@njit(parallel=True, cache=True)
def _requantize_scalar(acc, mult, shift, out):  # pragma: no cover - compiled
    for i in prange(acc.size):
        out[i] = _requantize_one(acc[i], mult, shift)


@njit(parallel=True, cache=True)
def _requantize_rows(acc, bias, mult, shift, lo, hi, out):  # pragma: no cover - compiled
    for c in prange(acc.shape[0]):
        b, m, s = bias[c], mult[c], shift[c]
        for i in range(acc.shape[1]):
            out[c, i] = min(max(_requantize_one(acc[c, i] + b, m, s), lo), hi)


@njit(parallel=True, cache=True)
def _requantize_sum(a, b, ma, mb, shift, lo, hi, out):  # pragma: no cover - compiled
    for i in prange(a.size):
        out[i] = min(max(_requantize_one(a[i] * ma + b[i] * mb, np.int64(1), shift), lo), hi)


def requantize_sum(a: np.ndarray, b: np.ndarray, ma: int, mb: int, shift: int, lo: int,
                   hi: int) -> np.ndarray:
    """``clip(requantize(a * M_a + b * M_b, 1, shift), lo, hi)`` element-wise in one pass
    (same shapes); the result keeps ``a``'s memory layout."""
    a = np.asarray(a, dtype=np.int64)
    out = np.empty_like(a)
    if np.asarray(b).strides != a.strides:
        b, b_in = np.empty_like(a), b
        b[...] = b_in
    b = np.asarray(b, dtype=np.int64)
    # out is dense in a's axis order, so its K-order ravel is a view that a's and b's match
    _requantize_sum(a.ravel(order="K"), b.ravel(order="K"), ma, mb, shift, lo, hi,
                    out.ravel(order="K"))
    return out


def requantize_channels(acc: np.ndarray, bias: np.ndarray, mult: np.ndarray,
                        shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``clip(requantize(acc[c] + bias[c], M[c], shift[c]), lo, hi)`` per channel c, the first
    axis of ``acc`` (any further axes); one pass, int64 out of the same shape."""
    acc2d = np.asarray(acc, dtype=np.int64).reshape(acc.shape[0], -1)
    out = np.empty(acc2d.shape, np.int64)
    as64 = [np.ascontiguousarray(a, dtype=np.int64) for a in (bias, mult, shift)]
    _requantize_rows(acc2d, *as64, lo, hi, out)
    return out.reshape(acc.shape)


def add_multipliers(in_scales: np.ndarray, out_scale: float) -> tuple[np.ndarray, int]:
    """``(M_i, shift)`` aligning inputs of scales ``s_i`` to ``s_out`` with one shift:
    ``M_i = floor(s_i / s_out * 2**shift + 1/2)``, the largest ``M_i`` below ``2**31``."""
    ratios = np.asarray(in_scales, dtype=np.float64) / out_scale
    shift = int(quantize_multiplier(ratios.max())[1])  # its rounding carry keeps M < 2**31
    return np.floor(np.ldexp(ratios, shift) + 0.5).astype(np.int64), shift


def qrange(bits: int, signed: bool) -> tuple[int, int]:
    """Integer range of a ``bits``-bit value: ``[-2**(b-1), 2**(b-1) - 1]`` or ``[0, 2**b - 1]``."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
