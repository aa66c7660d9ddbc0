"""Eight-lane 64-bit integer vectors for numba kernels: LLVM ``<8 x i64>`` values.

numba has no vector type, and its loop vectorizer cannot keep a bit-sliced adder's state in
registers. These intrinsics emit plain LLVM vector IR: on AVX-512 one ``zmm`` register per
value (xor/and/or trees become ``vpternlogq``), elsewhere LLVM splits it into narrower
registers. Lanes hold raw 64-bit words; arithmetic (:func:`vsub`) wraps like int64. Arrays
must be C-contiguous with 64-bit elements (offsets: int32 for :func:`vload_at`, int64 for
:func:`vgather`); nothing is bounds-checked.

numba's on-disk cache of a kernel is invalidated by changes to the kernel's own file only: after
editing this file, clear the ``__pycache__`` of the modules that use it.
"""

from __future__ import annotations

import llvmlite.ir as ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8
_VEC = ir.VectorType(ir.IntType(64), LANES)


class U64x8(types.Type):
    """numba type of an ``<8 x i64>`` value."""

    def __init__(self) -> None:
        super().__init__(name="u64x8")


u64x8 = U64x8()


@register_model(U64x8)
class _U64x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _splat(builder, scalar):
    """Vector with ``scalar`` (an i64) in every lane."""
    one = builder.insert_element(ir.Constant(_VEC, None), scalar, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
    return builder.shuffle_vector(one, ir.Constant(_VEC, None), mask)


def _words(arr) -> bool:
    """Typing check: a C-contiguous array of 64-bit elements."""
    return isinstance(arr, types.Array) and arr.layout == "C" and arr.dtype.bitwidth == 64


def _offsets(arr, bits: int) -> bool:
    return (isinstance(arr, types.Array) and isinstance(arr.dtype, types.Integer)
            and arr.dtype.bitwidth == bits)


def _offset(context, builder, offsets_type, offsets, index, base):
    """``base + offsets[index]`` as an i64 (int32 offsets sign-extended)."""
    data = context.make_array(offsets_type)(context, builder, offsets).data
    value = builder.load(builder.gep(data, [index]))
    if value.type != ir.IntType(64):
        value = builder.sext(value, ir.IntType(64))
    return builder.add(value, base)


def _vector_ptr(context, builder, array_type, array, offset):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [offset]), _VEC.as_pointer())


@intrinsic
def vzero(typingctx):  # noqa: ARG001 - numba intrinsic signature
    """All-zero vector."""

    def codegen(context, builder, sig, args):
        return ir.Constant(_VEC, [0] * LANES)

    return u64x8(), codegen


@intrinsic
def vsplat(typingctx, x):  # noqa: ARG001
    """Vector with the 64-bit integer ``x`` in every lane."""

    def codegen(context, builder, sig, args):
        return _splat(builder, args[0])

    return u64x8(types.int64), codegen


@intrinsic
def vload(typingctx, arr, i):  # noqa: ARG001
    """Lanes ``arr.flat[i : i + 8]`` of a contiguous 64-bit array (no bounds check)."""

    if not _words(arr):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_vector_ptr(context, builder, sig.args[0], args[0], args[1]), align=8)

    return u64x8(arr, types.intp), codegen


@intrinsic
def vload_at(typingctx, arr, offsets, j, base):  # noqa: ARG001
    """Lanes ``arr.flat[base + offsets[j] :][:8]``, offsets int32 (no bounds check)."""
    if not (_words(arr) and _offsets(offsets, 32)):
        return None

    def codegen(context, builder, sig, args):
        at = _offset(context, builder, sig.args[1], args[1], args[2], args[3])
        return builder.load(_vector_ptr(context, builder, sig.args[0], args[0], at), align=8)

    return u64x8(arr, offsets, types.intp, types.int64), codegen


@intrinsic
def vgather(typingctx, arr, offsets, j, base):  # noqa: ARG001
    """Lane k = ``arr.flat[base + offsets[j + k]]`` for int64 ``offsets`` (no bounds check)."""
    if not (_words(arr) and _offsets(offsets, 64)):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        vec = ir.Constant(_VEC, None)
        for k in range(LANES):
            index = builder.add(args[2], ir.Constant(args[2].type, k))
            at = _offset(context, builder, sig.args[1], args[1], index, args[3])
            value = builder.load(builder.gep(data, [at]))
            vec = builder.insert_element(vec, value, ir.Constant(ir.IntType(32), k))
        return vec

    return u64x8(arr, offsets, types.intp, types.int64), codegen


@intrinsic
def vstore(typingctx, arr, i, v):  # noqa: ARG001
    """``arr.flat[i : i + 8] = v`` for a contiguous 64-bit array (no bounds check)."""
    if not _words(arr):
        return None

    def codegen(context, builder, sig, args):
        ptr = _vector_ptr(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], ptr, align=8)
        return context.get_dummy_value()

    return types.none(arr, types.intp, u64x8), codegen


def _binary(op: str):
    @intrinsic
    def fn(typingctx, a, b):  # noqa: ARG001
        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])

        return u64x8(u64x8, u64x8), codegen

    return fn


vxor = _binary("xor")
vand = _binary("and_")
vor = _binary("or_")
vsub = _binary("sub")


def _has_avx512(context) -> bool:
    """Whether numba compiles for a CPU with AVX-512F (its target machine's features)."""
    return "+avx512f" in getattr(context.codegen(), "_tm_features", "").split(",")


def _ternary(imm: int, generic):
    """Bitwise function of three vectors given by its truth table ``imm`` (bit 4a + 2b + c):
    one ``vpternlogq`` with AVX-512, else the ``generic`` IR of and/or/xor."""

    @intrinsic
    def fn(typingctx, a, b, c):  # noqa: ARG001
        def codegen(context, builder, sig, args):
            if not _has_avx512(context):
                return generic(builder, *args)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(_VEC, [_VEC, _VEC, _VEC, i32])
            ternlog = cgutils.get_or_insert_function(
                builder.module, fnty, "llvm.x86.avx512.pternlog.q.512"
            )
            return builder.call(ternlog, [*args, ir.Constant(i32, imm)])

        return u64x8(u64x8, u64x8, u64x8), codegen

    return fn


vxor3 = _ternary(0x96, lambda b, x, y, z: b.xor(b.xor(x, y), z))  # x ^ y ^ z
vmaj = _ternary(  # majority: (x & y) | (z & (x | y))
    0xE8, lambda b, x, y, z: b.or_(b.and_(x, y), b.and_(z, b.or_(x, y)))
)


@intrinsic
def vnot(typingctx, a):  # noqa: ARG001
    """Bitwise complement of every lane."""

    def codegen(context, builder, sig, args):
        return builder.not_(args[0])

    return u64x8(u64x8), codegen


def _shift(op: str):
    @intrinsic
    def fn(typingctx, a, k):  # noqa: ARG001
        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], _splat(builder, args[1]))

        return u64x8(u64x8, types.int64), codegen

    return fn


vshr = _shift("lshr")  # logical right shift of every lane by k (0 <= k < 64)
vshl = _shift("shl")  # left shift of every lane by k (0 <= k < 64)
