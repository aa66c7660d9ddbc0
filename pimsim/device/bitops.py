"""Packed-bit helpers for numba: hardware popcount and trailing-zero count, words per row, and
an 8x8 bit transpose."""

from __future__ import annotations

import llvmlite.ir as ir
import numpy as np
from numba import njit, types
from numba.extending import intrinsic

WORD_BITS = 64


@intrinsic
def _ctpop(typingctx, x):  # noqa: ARG001 - numba intrinsic signature
    """LLVM ``ctpop`` on a uint64: one instruction (vectorized as VPOPCNTQ with AVX-512)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _cttz(typingctx, x):  # noqa: ARG001 - numba intrinsic signature
    """LLVM ``cttz`` on a uint64 (64 for zero): one TZCNT instruction."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.cttz", [ir.IntType(64), ir.IntType(1)])
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])

    return sig, codegen


@njit(inline="always", cache=True)
def trailing_zeros(x: np.uint64) -> np.int64:
    """Index of the lowest set bit of a 64-bit word (64 for zero)."""
    return np.int64(_cttz(x))


@njit(inline="always", cache=True)
def popcount(x: np.uint64) -> np.int64:
    """Number of set bits of a 64-bit word."""
    return np.int64(_ctpop(x))


def n_words(n_bits: int) -> int:
    """Words of 64 bits that hold ``n_bits``."""
    return -(-n_bits // WORD_BITS)


@njit(inline="always")
def transpose8(x: np.uint64) -> np.uint64:
    """Transpose the 8x8 bit matrix of a uint64 (row k = byte k): byte m of the result holds
    bit m of every input byte, input byte k at bit k (Warren, Hacker's Delight, 2nd ed.,
    sec. 7-3, transpose8rS64)."""
    t = (x ^ (x >> np.uint64(7))) & np.uint64(0x00AA00AA00AA00AA)
    x = x ^ t ^ (t << np.uint64(7))
    t = (x ^ (x >> np.uint64(14))) & np.uint64(0x0000CCCC0000CCCC)
    x = x ^ t ^ (t << np.uint64(14))
    t = (x ^ (x >> np.uint64(28))) & np.uint64(0x00000000F0F0F0F0)
    return x ^ t ^ (t << np.uint64(28))
