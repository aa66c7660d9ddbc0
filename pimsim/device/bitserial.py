"""Bit-serial convolution and linear layers: AND + bit-count + shift (DoReFa-Net decomposition).

For M-bit activations x and N-bit weights w with bit-planes c_m(x), c_n(w) (Zhou et al. 2016,
DoReFa-Net, eq. for bitwise dot products):

    x . w = sum_m sum_n s_m s_n 2^(m+n) * bitcount(AND(c_m(x), c_n(w)))

Signed values use two's complement: the top plane of a signed b-bit value has weight
``-2^(b-1)`` (s = -1), every other plane ``+2^i``; unsigned planes are all positive. A b-bit
signed value lies in [-2^(b-1), 2^(b-1) - 1], unsigned in [0, 2^b - 1]; zero padding is all-zero
planes. The shift-add subtracts when s_m s_n = -1.

Two implementations with the same events (see :mod:`layer_events` for the mapping):

- :func:`bitserial_conv2d` / :func:`bitserial_linear`: the fast numba kernel of :mod:`bitsliced`.
  It computes the same bit-counts with the loops turned around: activation bit-planes stored
  bit-sliced across 512 output pixels, the count of AND(c_n(w), c_m(x)) summed over r by
  carry-save adders (rows whose weight bit is zero skipped), on numba's threads. It counts one
  sense, bit-count and shift-add per (co, n, m, pixel) iteration, times the column chunks of
  the mapping, and one row write per pixel, activation plane and chunk for the planes it packs.
- :func:`reference_conv2d` / :func:`reference_linear`: every operation executed one at a time on
  :class:`SubArray` objects; slow, for tests on small layers.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange

from pimsim.device.bitsliced import BLOCK_PIXELS, bitsliced_conv
from pimsim.device.events import EventCounts
from pimsim.device.faults import FaultInjector
from pimsim.device.layer_events import DEFAULT_COLS, DEFAULT_ROWS, Tiling
from pimsim.device.margins import check_margin
from pimsim.device.params import DeviceParams
from pimsim.device.scratch import scratch
from pimsim.device.subarray import SubArray
from pimsim.errors import PimsimError
from pimsim.geometry import conv_output_size, padded_shape
from pimsim.geometry import im2col_offsets as _im2col_offsets

MAX_BITS = 16


def plane_weights(bits: int, signed: bool) -> np.ndarray:
    """Weight of each bit-plane: 2^i, and -2^(bits-1) for the top plane of a signed value."""
    w = np.array([1 << i for i in range(bits)], dtype=np.int64)
    if signed:
        w[-1] = -w[-1]
    return w


def value_range(bits: int, signed: bool) -> tuple[int, int]:
    """Representable [lo, hi] of a ``bits``-bit value."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _check_operand(name: str, a: np.ndarray, bits: int, signed: bool, ndim: int) -> np.ndarray:
    if not 1 <= bits <= MAX_BITS:
        raise PimsimError(f"bitserial: {name}_bits: must be in 1..{MAX_BITS}, got {bits}")
    a = np.asarray(a)
    if a.ndim != ndim:
        raise PimsimError(f"bitserial: {name}: expected {ndim} dimensions, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise PimsimError(f"bitserial: {name}: must be an integer array, got {a.dtype}")
    lo, hi = value_range(bits, signed)
    if a.size and (a.min() < lo or a.max() > hi):
        kind = "signed" if signed else "unsigned"
        raise PimsimError(
            f"bitserial: {name}: values must lie in [{lo}, {hi}] for {bits}-bit {kind}, "
            f"got [{a.min()}, {a.max()}]"
        )
    return a.astype(np.int64, copy=False)


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, padding: int) -> np.ndarray:
    """(N, C, H, W) -> (C*kh*kw, N*OH*OW), rows ordered (ci, kh, kw), columns (n, oh, ow)."""
    x = np.asarray(x, dtype=np.int64)
    xp = np.empty(padded_shape(x.shape, padding), np.int64)
    _pad_copy(x, padding, xp)
    n, c, h, w = xp.shape
    oh, ow = conv_output_size(h, kh, stride, 0), conv_output_size(w, kw, stride, 0)
    s = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp, (c, kh, kw, n, oh, ow), (s[1], s[2], s[3], s[0], s[2] * stride, s[3] * stride)
    )
    return view.reshape(c * kh * kw, n * oh * ow)


def conv2d_int64(x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Exact integer convolution by an int64 im2col GEMM in numpy: (N, C_out, OH, OW)."""
    n, _, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    oh, ow = conv_output_size(h, kh, stride, padding), conv_output_size(wd, kw, stride, padding)
    cols = im2col(x, kh, kw, stride, padding)
    # einsum's integer loop is several times faster than numpy's (BLAS-less) int64 matmul.
    out = np.einsum("ij,jk->ik", np.asarray(w, dtype=np.int64).reshape(c_out, -1), cols)
    return out.reshape(c_out, n, oh, ow).transpose(1, 0, 2, 3)


@njit(parallel=True, cache=True)
def _pad_copy(x, padding, out):
    """Fill ``out`` (N, C, H + 2 pad, W + 2 pad) with x (any strides) zero-padded."""
    nb, c, h, w = x.shape
    hp, wp = h + 2 * padding, w + 2 * padding
    for job in prange(nb * c):
        b, ci = job // c, job % c
        for y in range(hp):
            iy = y - padding
            if iy < 0 or iy >= h:
                for xx in range(wp):
                    out[b, ci, y, xx] = 0
                continue
            for xx in range(padding):
                out[b, ci, y, xx] = 0
                out[b, ci, y, wp - 1 - xx] = 0
            for xx in range(w):
                out[b, ci, y, xx + padding] = x[b, ci, iy, xx]


@functools.lru_cache(maxsize=32)
def im2col_offsets(shape: tuple[int, ...], kh: int, kw: int, stride: int, oh: int, ow: int,
                   block: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pimsim.geometry.im2col_offsets`, cached and read-only."""
    row, pixel = _im2col_offsets(shape, kh, kw, stride, oh, ow, block)
    # Immutable buffers: no caller can make the cached arrays writeable again.
    return np.frombuffer(row.tobytes(), np.int64), np.frombuffer(pixel.tobytes(), np.int64)


def _fast_gemm(
    w2d: np.ndarray,
    x: np.ndarray,
    geometry: tuple[int, int, int, int, int, int],
    x_bits: int,
    w_bits: int,
    x_signed: bool,
    w_signed: bool,
    tiling: Tiling,
    faults: FaultInjector | None = None,
) -> tuple[np.ndarray, EventCounts]:
    kh, kw, stride, padding, oh, ow = geometry
    pixels = x.shape[0] * oh * ow
    faulty = faults is not None and not faults.rates.zero
    if pixels == 0:  # an empty batch
        out, iterations = np.empty((w2d.shape[0], 0), np.int64), 0
    else:
        shape = padded_shape(x.shape, padding)
        xpad = scratch("bitserial.padded", int(np.prod(shape)), np.int64).reshape(shape)
        _pad_copy(x, padding, xpad)
        row_off, pixel_off = im2col_offsets(shape, kh, kw, stride, oh, ow, BLOCK_PIXELS)
        if faulty:
            sw, sx = plane_weights(w_bits, w_signed), plane_weights(x_bits, x_signed)
            w2d = faults.stuck_weights(w2d, w_bits, sw)
        out, iterations = bitsliced_conv(xpad.reshape(-1), row_off, pixel_off, pixels, w2d,
                                         x_bits, w_bits, x_signed, w_signed)
        if faulty:
            xflat = xpad.reshape(-1)
            faults.inject(out, w2d, lambda r, p: xflat[row_off[r] + pixel_off[p]],
                          (w2d.shape[0], w_bits, x_bits, pixels, w2d.shape[1]), sw, sx,
                          tiling.channels_per_subarray)
    # One row write per pixel, activation plane and column chunk (while packing the planes).
    plane_writes = x_bits * pixels * tiling.chunks
    senses = iterations * tiling.chunks
    sense_bits = iterations * tiling.reduction
    events = EventCounts(
        row_writes=int(plane_writes) * tiling.channel_tiles,
        row_write_bits=x_bits * pixels * tiling.reduction * tiling.channel_tiles,
        and2_senses=senses,
        and2_sense_bits=sense_bits,
        bitcounts=senses,
        bitcount_bits=sense_bits,
        shift_adds=senses,
    )
    return out, events


def _conv_setup(x, w, stride, padding, x_bits, w_bits, x_signed, w_signed, rows, cols, params):
    x = _check_operand("x", x, x_bits, x_signed, 4)
    w = _check_operand("w", w, w_bits, w_signed, 4)
    if x.shape[1] != w.shape[1]:
        raise PimsimError(f"bitserial: x has {x.shape[1]} channels, w expects {w.shape[1]}")
    if stride < 1 or padding < 0:
        raise PimsimError(
            f"bitserial: stride must be >= 1 and padding >= 0, got {stride} and {padding}"
        )
    if params is not None:
        check_margin(params, "and2")
    n, c, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    oh, ow = conv_output_size(h, kh, stride, padding), conv_output_size(wd, kw, stride, padding)
    if oh < 1 or ow < 1:
        raise PimsimError(f"bitserial: kernel {kh}x{kw} larger than padded input {h}x{wd}")
    tiling = Tiling(c_out, c * kh * kw, x_bits, w_bits, rows, cols)
    return x, w, (n, c_out, oh, ow), (kh, kw, stride, padding, oh, ow), tiling


def bitserial_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    x_bits: int = 8,
    w_bits: int = 8,
    x_signed: bool = False,
    w_signed: bool = True,
    rows: int = DEFAULT_ROWS,
    cols: int = DEFAULT_COLS,
    params: DeviceParams | None = None,
    faults: FaultInjector | None = None,
) -> tuple[np.ndarray, EventCounts]:
    """Exact bit-serial conv2d of integer x (N, C, H, W) and w (C_out, C, K_h, K_w).

    Returns the int64 output (N, C_out, OH, OW) and the events of one inference on
    ``rows x cols`` sub-arrays. With ``params``, refuses if its AND2 sense margin is too small.
    With ``faults`` (:class:`~pimsim.device.faults.FaultInjector`) whose rates are not all 0,
    its sense, write and stuck-at errors change the result (:mod:`pimsim.device.faults`);
    otherwise the exact path runs unchanged.
    """
    x, w, shape, geometry, tiling = _conv_setup(
        x, w, stride, padding, x_bits, w_bits, x_signed, w_signed, rows, cols, params
    )
    out, events = _fast_gemm(
        w.reshape(w.shape[0], -1), x, geometry, x_bits, w_bits, x_signed, w_signed, tiling,
        faults,
    )
    n, c_out, oh, ow = shape
    return out.reshape(c_out, n, oh, ow).transpose(1, 0, 2, 3), events


def bitserial_linear(
    x: np.ndarray,
    w: np.ndarray,
    x_bits: int = 8,
    w_bits: int = 8,
    x_signed: bool = False,
    w_signed: bool = True,
    rows: int = DEFAULT_ROWS,
    cols: int = DEFAULT_COLS,
    params: DeviceParams | None = None,
    faults: FaultInjector | None = None,
) -> tuple[np.ndarray, EventCounts]:
    """Exact bit-serial ``x @ w.T`` for x (N, in) and w (out, in): (N, out) int64 and events
    (``faults``: as :func:`bitserial_conv2d`)."""
    x, w = _linear_operands(x, w, x_bits, w_bits, x_signed, w_signed)
    out, events = bitserial_conv2d(
        x[:, :, None, None], w[:, :, None, None], 1, 0,
        x_bits, w_bits, x_signed, w_signed, rows, cols, params, faults,
    )
    return out[:, :, 0, 0], events


def _linear_operands(x, w, x_bits, w_bits, x_signed, w_signed):
    x = _check_operand("x", x, x_bits, x_signed, 2)
    w = _check_operand("w", w, w_bits, w_signed, 2)
    if x.shape[1] != w.shape[1]:
        raise PimsimError(f"bitserial: x has {x.shape[1]} features, w expects {w.shape[1]}")
    return x, w


def _reference_gemm(
    w2d: np.ndarray,
    cols2d: np.ndarray,
    x_bits: int,
    w_bits: int,
    x_signed: bool,
    w_signed: bool,
    tiling: Tiling,
    params: DeviceParams,
) -> tuple[np.ndarray, EventCounts, EventCounts]:
    """Execute the mapping of :mod:`layer_events` one sub-array operation at a time."""
    c_out, _ = w2d.shape
    pixels = cols2d.shape[1]
    sw, sx = plane_weights(w_bits, w_signed), plane_weights(x_bits, x_signed)
    g = tiling.channels_per_subarray
    out = np.zeros((c_out, pixels), dtype=object)  # Python ints: no overflow in the reference
    events = EventCounts()
    loads = EventCounts()
    for chunk in range(tiling.chunks):
        c0 = chunk * tiling.cols
        width = tiling.chunk_width(chunk)
        for tile in range(tiling.channel_tiles):
            channels = range(tile * g, min(c_out, (tile + 1) * g))
            sa = SubArray(params, tiling.rows, tiling.cols)
            for k, co in enumerate(channels):
                for n in range(w_bits):
                    sa.write_row(k * w_bits + n, (w2d[co, c0 : c0 + width] >> n) & 1)
            loads += sa.events
            sa.reset_events()
            x_row0 = g * w_bits
            for p in range(pixels):
                for m in range(x_bits):
                    sa.write_row(x_row0 + m, (cols2d[c0 : c0 + width, p] >> m) & 1)
                for k, co in enumerate(channels):
                    acc = out[co, p]
                    for n in range(w_bits):
                        for m in range(x_bits):
                            sa.sense("and2", (k * w_bits + n, x_row0 + m), 0, width)
                            count = sa.bitcount(0, width)
                            acc = sa.shift_add(acc, count, n + m, sw[n] * sx[m] < 0)
                    out[co, p] = acc
            events += sa.events
    return out.astype(np.int64), events, loads


def reference_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    x_bits: int = 8,
    w_bits: int = 8,
    x_signed: bool = False,
    w_signed: bool = True,
    rows: int = DEFAULT_ROWS,
    cols: int = DEFAULT_COLS,
    params: DeviceParams | None = None,
) -> tuple[np.ndarray, EventCounts, EventCounts]:
    """Step-by-step :class:`SubArray` execution of :func:`bitserial_conv2d` (small layers only).

    Returns (output, events per inference, weight-load events).
    """
    from pimsim.device.params import load_device_params

    params = load_device_params() if params is None else params
    x, w, shape, geometry, tiling = _conv_setup(
        x, w, stride, padding, x_bits, w_bits, x_signed, w_signed, rows, cols, params
    )
    kh, kw = geometry[:2]
    out, events, loads = _reference_gemm(
        w.reshape(w.shape[0], -1), im2col(x, kh, kw, stride, padding),
        x_bits, w_bits, x_signed, w_signed, tiling, params,
    )
    n, c_out, oh, ow = shape
    return out.reshape(c_out, n, oh, ow).transpose(1, 0, 2, 3), events, loads


def reference_linear(
    x: np.ndarray,
    w: np.ndarray,
    x_bits: int = 8,
    w_bits: int = 8,
    x_signed: bool = False,
    w_signed: bool = True,
    rows: int = DEFAULT_ROWS,
    cols: int = DEFAULT_COLS,
    params: DeviceParams | None = None,
) -> tuple[np.ndarray, EventCounts, EventCounts]:
    """Step-by-step :class:`SubArray` execution of :func:`bitserial_linear`."""
    x, w = _linear_operands(x, w, x_bits, w_bits, x_signed, w_signed)
    out, events, loads = reference_conv2d(
        x[:, :, None, None], w[:, :, None, None], 1, 0,
        x_bits, w_bits, x_signed, w_signed, rows, cols, params,
    )
    return out[:, :, 0, 0], events, loads


__all__ = [
    "bitserial_conv2d",
    "bitserial_linear",
    "conv2d_int64",
    "im2col",
    "plane_weights",
    "reference_conv2d",
    "reference_linear",
    "value_range",
]
