"""The fast AND + bit-count kernel, bit-sliced across output pixels.

For each output channel co, weight plane n and activation plane m the layer needs, per pixel p,
``bitcount(AND(c_n(w_co), c_m(x_p)))`` over the reduction axis r (see :mod:`bitserial`). The
sub-array computes it along r, one pixel at a time. This kernel computes the same counts with r
as the loop and 512 pixels side by side: activation planes are stored bit-sliced, one 512-bit
vector per (block, m, r) whose bit ``i`` of lane ``k`` holds bit m of element r of pixel
``512 block + 8 i + k``. ANDing with a weight bit c_n(w_co)[r] keeps that
vector or zeroes it, so the count is the per-pixel sum of the vectors of the r whose weight
bit is set (rows with a zero bit add nothing and are skipped).

The per-pixel sums are formed by carry-save adders (a full adder per bit: sum = a ^ b ^ c,
carry = majority(a, b, c)), 16 vectors at a time by the Harley-Seal tree (Harley and Seal;
Mula, Kurz and Lemire 2018, "Faster population counts using AVX2 instructions", sec. 3);
its outputs, weighted 2^(n+m+k), go into one bit-sliced carry-save accumulator per job. Terms
with a negative sign (two's complement top planes) enter complemented, -v 2^j = (~v) 2^j - 2^j,
and the sum of the 2^j is subtracted at the end. The result is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from pimsim.device.bitops import WORD_BITS, n_words, popcount, trailing_zeros, transpose8
from pimsim.device.scratch import scratch
from pimsim.device.simd import (
    LANES,
    vand,
    vgather,
    vload,
    vload_at,
    vmaj,
    vnot,
    vor,
    vshl,
    vshr,
    vsplat,
    vstore,
    vsub,
    vxor,
    vxor3,
    vzero,
)

BLOCK_PIXELS = LANES * 64  # pixels per 512-bit vector
GROUP = 16  # rows per Harley-Seal step; weight-bit lists are padded to a multiple of it


def accumulator_levels(rows: int, w_bits: int, x_bits: int) -> int:
    """Bits of the carry-save accumulator. What a term (n, m) adds is at most
    (rows + 110) 2^(n+m): its count (at most its list length, rows rounded up to GROUP, so
    below rows + 16), or for a negative term its complemented planes (carries at most
    (count + 32) 2^(n+m), the counter plane 2^(n+m), at most one flush of 31 2^(n+m+1)). So
    the sum is below
    ``(rows + 7 GROUP) (2^w_bits - 1) (2^x_bits - 1) < 2^levels``."""
    return w_bits + x_bits + int(rows + 7 * GROUP).bit_length()


def accumulator_capacity(rows: int, w_bits: int, x_bits: int, levels: int) -> int:
    """Levels the accumulator's carries can reach. Pushes go to levels <= J = w_bits + x_bits
    + 3; a level passes on at most half the pushes it receives, so with D pushes in a job none
    gets past J + bit_length(D) - 1. Per activation plane a job pushes, for each weight plane,
    at most ceil(groups / 2) + 1 <= (rows rounded up to GROUP) / GROUP + 1 planes (a loose
    bound), plus two flushes of 5. Planes above
    ``levels`` are zero (their values would exceed the bound of :func:`accumulator_levels`)."""
    pushes = x_bits * (w_bits * (-(-rows // GROUP) + 1) + 10)
    return max(levels, w_bits + x_bits + 4 + pushes.bit_length())


@njit(inline="always")
def _vtranspose8(x):
    """:func:`~pimsim.device.bitops.transpose8` of every lane."""
    t = vand(vxor(x, vshr(x, 7)), vsplat(0x00AA00AA00AA00AA))
    x = vxor3(x, t, vshl(t, 7))
    t = vand(vxor(x, vshr(x, 14)), vsplat(0x0000CCCC0000CCCC))
    x = vxor3(x, t, vshl(t, 14))
    t = vand(vxor(x, vshr(x, 28)), vsplat(0x00000000F0F0F0F0))
    return vxor3(x, t, vshl(t, 28))


@njit(inline="always")
def _load_pixels(xflat, pixel_off, p, base):
    """Elements of 8 consecutive pixels p..p+7: one load where they are contiguous (offsets
    that span 7: real offsets strictly increase, the padding after them is smaller), else a
    gather."""
    first = pixel_off[p]
    if pixel_off[p + LANES - 1] - first == LANES - 1:
        return vload(xflat, base + first)
    return vgather(xflat, pixel_off, p, base)


@njit(parallel=True, cache=True)
def pack_pixel_planes(xflat, row_off, pixel_off, bits, out):
    """Fill ``out``, flat (blocks, bits, rows + 1, LANES) uint64, with bit-sliced activation
    planes: bit i of lane k of word (block, m, r) is bit m of element r of pixel
    ``512 block + 8 i + k``.

    The im2col element (r, p) is ``xflat[row_off[r] + pixel_off[p]]``; ``pixel_off`` covers
    whole blocks (pixels past the last repeat the first, their outputs are dropped). Row ``rows`` is
    all zero (the padding of the weight-bit lists). Per (r, block), each 64-bit lane gathers
    the byte of 8 pixels whose 8x8 bit transpose gives, in byte m, 8 bits of plane m.
    """
    rows = row_off.size
    blocks = pixel_off.size // BLOCK_PIXELS
    plane = (rows + 1) * LANES
    for i in range(blocks * bits):
        out[i * plane + rows * LANES : (i + 1) * plane] = 0
    for job in prange(rows * blocks):  # block-major, like the GEMM: a block stays on a core
        blk, r = job // rows, job % rows
        base = row_off[r]
        for byte in range((bits + 7) // 8):
            for g in range(8):  # bits 8g..8g+7 of the lanes: pixels 512 blk + 8 (8g + i) + k
                v = vzero()
                for i in range(8):
                    x = _load_pixels(xflat, pixel_off, blk * BLOCK_PIXELS + 8 * (8 * g + i), base)
                    v = vor(v, vshl(vand(vshr(x, 8 * byte), vsplat(0xFF)), 8 * i))
                t = _vtranspose8(v)  # byte k of lane: bit 8 byte + k of its 8 pixels
                for k in range(min(8, bits - 8 * byte)):
                    at = ((blk * bits + 8 * byte + k) * (rows + 1) + r) * LANES
                    piece = vshl(vand(vshr(t, 8 * k), vsplat(0xFF)), 8 * g)
                    vstore(out, at, piece if g == 0 else vor(vload(out, at), piece))


@njit(parallel=True, cache=True)
def weight_bit_lists(w2d, bits, row_stride, zero_row, masks, offsets):
    """Fill ``offsets`` (int32) with, per (co, n), the offsets ``r * row_stride`` of the r
    whose weight bit n is set, padded with ``zero_row`` to a multiple of GROUP, concatenated;
    returns the starts: list (co, n) is ``offsets[starts[co * bits + n] : starts[co * bits +
    n + 1]]``. ``masks`` is uint64 scratch of C_out * bits * ceil(rows / 64) elements,
    ``offsets`` holds at least C_out * bits * (rows rounded up to GROUP).

    First the weight bit-planes along r (an 8x8 bit transpose of a byte of 8 weights gives a
    byte of each plane), then the set bits of each plane word, lowest first."""
    c_out, rows = w2d.shape
    words = (rows + WORD_BITS - 1) // WORD_BITS
    masks = masks.reshape(c_out * bits, words)
    counts = np.zeros(c_out * bits, np.int64)
    for co in prange(c_out):
        masks[co * bits : (co + 1) * bits] = 0
        for r0 in range(0, rows, 8):
            for byte in range((bits + 7) // 8):
                v = np.uint64(0)
                for k in range(min(8, rows - r0)):
                    v |= (np.uint64(w2d[co, r0 + k] >> (8 * byte)) & np.uint64(0xFF)) << np.uint64(
                        8 * k)
                t = transpose8(v)  # byte j: bit 8 byte + j of the 8 weights
                for j in range(min(8, bits - 8 * byte)):
                    masks[co * bits + 8 * byte + j, r0 // WORD_BITS] |= (
                        (t >> np.uint64(8 * j)) & np.uint64(0xFF)) << np.uint64(r0 % WORD_BITS)
        for i in range(co * bits, (co + 1) * bits):
            for word in range(words):
                counts[i] += popcount(masks[i, word])
    starts = np.zeros(c_out * bits + 1, np.int64)
    for i in range(c_out * bits):
        starts[i + 1] = starts[i] + (counts[i] + GROUP - 1) // GROUP * GROUP
    for i in prange(c_out * bits):
        at = starts[i]
        for word in range(words):
            mask = masks[i, word]
            while mask:
                offsets[at] = (word * WORD_BITS + trailing_zeros(mask)) * row_stride
                at += 1
                mask &= mask - np.uint64(1)
        offsets[at : starts[i + 1]] = zero_row
    return starts


@njit(inline="always")
def _csa(a, b, c):
    """Full adder of three bit-vectors: (sum, carry)."""
    return vxor3(a, b, c), vmaj(a, b, c)


@njit(inline="always")
def _push(planes, held, level, v):
    """Add vector v at weight 2^level to the carry-save accumulator: per level one summed plane
    and at most one held plane; a third plane triggers a full adder whose carry moves up."""
    while held[level]:
        at = 2 * level * LANES
        s, v = _csa(vload(planes, at), vload(planes, at + LANES), v)
        vstore(planes, at, s)
        held[level] = False
        level += 1
    vstore(planes, (2 * level + 1) * LANES, v)
    held[level] = True


@njit(inline="always")
def _push_signed(planes, held, level, v, negative):
    """Push +v 2^level, or ~v 2^level for -v 2^level; returns the offset 2^level added."""
    if negative:
        _push(planes, held, level, vnot(v))
        return np.int64(1) << level
    _push(planes, held, level, v)
    return np.int64(0)


@njit(cache=True)
def _flush(planes, held, level, negative, ones, twos, fours, eights, sixteens):
    """Push the five counter planes (weights 2^level .. 2^(level+4)); returns the offset."""
    return (_push_signed(planes, held, level, ones, negative)
            + _push_signed(planes, held, level + 1, twos, negative)
            + _push_signed(planes, held, level + 2, fours, negative)
            + _push_signed(planes, held, level + 3, eights, negative)
            + _push_signed(planes, held, level + 4, sixteens, negative))


@njit(inline="always")
def _add_four(xs, offsets, j, base, ones, twos):
    """Add the 4 vectors ``xs[base + offsets[j : j + 4]]`` to the planes of weights 1 and 2 by
    3 full adders; returns them and the carry plane of weight 4."""
    ones, twos_a = _csa(ones, vload_at(xs, offsets, j, base), vload_at(xs, offsets, j + 1, base))
    ones, twos_b = _csa(ones, vload_at(xs, offsets, j + 2, base),
                        vload_at(xs, offsets, j + 3, base))
    twos, fours = _csa(twos, twos_a, twos_b)
    return ones, twos, fours


@njit(inline="always")
def _harley_seal16(xs, offsets, j, base, ones, twos, fours, eights):
    """Add the 16 vectors ``xs[base + offsets[j : j + 16]]`` to the counter planes (weights
    1, 2, 4, 8) by 15 full adders; returns them and the carry plane of weight 16."""
    ones, twos, fours_a = _add_four(xs, offsets, j, base, ones, twos)
    ones, twos, fours_b = _add_four(xs, offsets, j + 4, base, ones, twos)
    fours, eights_a = _csa(fours, fours_a, fours_b)
    ones, twos, fours_a = _add_four(xs, offsets, j + 8, base, ones, twos)
    ones, twos, fours_b = _add_four(xs, offsets, j + 12, base, ones, twos)
    fours, eights_b = _csa(fours, fours_a, fours_b)
    eights, sixteens = _csa(eights, eights_a, eights_b)
    return ones, twos, fours, eights, sixteens


@njit(parallel=True, cache=True)
def bitsliced_gemm(xs, starts, offsets, w_bits, x_bits, w_signed, x_signed, levels, capacity,
                   out):
    """out[co, p] = sum_n sum_m s_n s_m 2^(n+m) bitcount(AND(c_n(w_co), c_m(x_p))), exact.

    ``xs`` from :func:`pack_pixel_planes`, ``starts``/``offsets`` from :func:`weight_bit_lists`,
    ``out`` (C_out, pixels) int64, ``levels``/``capacity`` from :func:`accumulator_levels` and
    :func:`accumulator_capacity`. Jobs are (co, block of 512 pixels). Returns the
    (co, n, m, pixel) iterations: one AND2 sense, bit-count and shift-add each, whether or not
    the CPU skipped the zero weight bits.
    """
    c_out, pixels = out.shape
    blocks = (pixels + BLOCK_PIXELS - 1) // BLOCK_PIXELS
    plane = xs.size // (blocks * x_bits)
    senses = np.zeros(c_out * blocks, np.int64)
    for job in prange(c_out * blocks):  # block-major: a thread's blocks stay in its L2
        blk, co = job // c_out, job % c_out
        first = blk * BLOCK_PIXELS
        length = min(pixels, first + BLOCK_PIXELS) - first
        planes = np.zeros(2 * capacity * LANES, np.uint64)  # (level, summed/held, lane)
        held = np.zeros(capacity, np.bool_)
        offset = np.int64(0)
        for m in range(x_bits):  # plane m of the block stays in L1 for every n
            base = (blk * x_bits + m) * plane
            # Counter state: planes of weight 2^(n+m) .. 2^(n+m+4) for the current n.
            ones, twos, fours, eights, sixteens = vzero(), vzero(), vzero(), vzero(), vzero()
            negative = (w_signed and w_bits == 1) != (x_signed and m == x_bits - 1)  # n = 0
            for n in range(w_bits):
                senses[job] += length
                level = n + m
                sign = (w_signed and n == w_bits - 1) != (x_signed and m == x_bits - 1)
                if sign != negative:  # terms of another sign: empty the counter first
                    offset += _flush(planes, held, level, negative,
                                     ones, twos, fours, eights, sixteens)
                    ones, twos, fours, eights, sixteens = (vzero(), vzero(), vzero(), vzero(),
                                                           vzero())
                    negative = sign
                start, stop = starts[co * w_bits + n], starts[co * w_bits + n + 1]
                pending = False  # a weight-16 carry waiting for its pair
                carry_a = vzero()
                for j in range(start, stop, GROUP):
                    ones, twos, fours, eights, carry_b = _harley_seal16(
                        xs, offsets, j, base, ones, twos, fours, eights)
                    if pending:
                        sixteens, carry = _csa(sixteens, carry_a, carry_b)
                        offset += _push_signed(planes, held, level + 5, carry, negative)
                    carry_a, pending = carry_b, not pending
                if pending:
                    sixteens, carry = vxor(sixteens, carry_a), vand(sixteens, carry_a)
                    offset += _push_signed(planes, held, level + 5, carry, negative)
                # Weight 2^(n+m) is complete for this m: shift the counter to n + 1.
                offset += _push_signed(planes, held, level, ones, negative)
                ones, twos, fours, eights, sixteens = twos, fours, eights, sixteens, vzero()
            offset += _flush(planes, held, w_bits + m, negative,
                             ones, twos, fours, eights, sixteens)
        # Resolve the accumulator into binary planes (ripple carry); per pixel the value is
        # sum_level bit 2^level - offset.
        carry = vzero()
        for level in range(levels):
            at = 2 * level * LANES
            held_plane = vload(planes, at + LANES) if held[level] else vzero()
            s, carry = _csa(vload(planes, at), held_plane, carry)
            vstore(planes, at, s)
        # Per pixel, its bits of the planes: 8x8 bit transposes of a byte of 8 planes.
        values = np.zeros(64 * LANES, np.uint64)  # (pixel bit i, lane): pixel 8 i + lane
        byte = vsplat(0xFF)
        for group in range((levels + 7) // 8):
            for b in range(8):  # pixel bits 8b .. 8b + 7
                v = vzero()
                for k in range(min(8, levels - 8 * group)):
                    bit_plane = vload(planes, 2 * (8 * group + k) * LANES)
                    v = vor(v, vshl(vand(vshr(bit_plane, 8 * b), byte), 8 * k))
                t = _vtranspose8(v)  # byte i: pixel bit 8b + i across the 8 planes
                for i in range(8):
                    at = (8 * b + i) * LANES
                    part = vshl(vand(vshr(t, 8 * i), byte), 8 * group)
                    vstore(values, at, vor(vload(values, at), part))
        shift = vsplat(offset)
        tail = np.empty(LANES, np.int64)
        for bit in range((length + LANES - 1) // LANES):
            v = vsub(vload(values, bit * LANES), shift)
            p = first + LANES * bit
            if p + LANES <= pixels:
                vstore(out[co], p, v)
            else:
                vstore(tail, 0, v)
                out[co, p:pixels] = tail[: pixels - p]
    return senses.sum()


def bitsliced_conv(
    xflat: np.ndarray,
    row_off: np.ndarray,
    pixel_off: np.ndarray,
    pixels: int,
    w2d: np.ndarray,
    x_bits: int,
    w_bits: int,
    x_signed: bool,
    w_signed: bool,
) -> tuple[np.ndarray, int]:
    """(C_out, pixels) int64 result of the im2col GEMM ``w2d @ X`` with X[r, p] =
    ``xflat[row_off[r] + pixel_off[p]]``, and the (co, n, m, pixel) iterations. ``pixel_off``
    covers whole blocks of BLOCK_PIXELS, padded as :func:`~bitserial.im2col_offsets` does."""
    rows, blocks = row_off.size, pixel_off.size // BLOCK_PIXELS
    xs = scratch("bitsliced.planes", blocks * x_bits * (rows + 1) * LANES, np.uint64)
    pack_pixel_planes(xflat, row_off, pixel_off, x_bits, xs)
    lists = w2d.shape[0] * w_bits
    masks = scratch("bitsliced.masks", lists * n_words(rows), np.uint64)
    offsets = scratch("bitsliced.offsets", lists * -(-rows // GROUP) * GROUP, np.int32)
    starts = weight_bit_lists(w2d, w_bits, LANES, rows * LANES, masks, offsets)
    levels = accumulator_levels(rows, w_bits, x_bits)
    capacity = accumulator_capacity(rows, w_bits, x_bits, levels)
    out = np.empty((w2d.shape[0], pixels), np.int64)
    iterations = bitsliced_gemm(xs, starts, offsets, w_bits, x_bits, w_signed, x_signed, levels,
                                capacity, out)
    return out, int(iterations)
