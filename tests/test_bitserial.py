"""Bit-serial kernels: bit-exact against integer convolution, same events as the step-by-step
sub-array execution, and equal to the closed-form event counts."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.device import load_device_params, with_overrides
from pimsim.device.bitserial import (
    bitserial_conv2d,
    bitserial_linear,
    conv2d_int64,
    plane_weights,
    reference_conv2d,
    reference_linear,
    value_range,
)
from pimsim.device.layer_events import (
    Tiling,
    conv2d_events,
    gemm_events,
    linear_events,
    weight_load_events,
)
from pimsim.errors import PimsimError


def _ints(rng, shape, bits, signed):
    lo, hi = value_range(bits, signed)
    return rng.integers(lo, hi + 1, shape, dtype=np.int64)


@st.composite
def conv_cases(draw):
    k = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    h = draw(st.integers(max(1, k - 2 * padding), 7))
    w = draw(st.integers(max(1, k - 2 * padding), 7))
    return dict(
        n=draw(st.integers(1, 2)), c=draw(st.integers(1, 9)), h=h, w=w,
        c_out=draw(st.integers(1, 4)), k=k, stride=draw(st.integers(1, 3)), padding=padding,
        x_bits=draw(st.integers(1, 16)), w_bits=draw(st.integers(1, 16)),
        x_signed=draw(st.booleans()), w_signed=draw(st.booleans()),
        rows=draw(st.integers(34, 300)), cols=draw(st.sampled_from([16, 64, 100, 256])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=60, deadline=None)
@given(case=conv_cases())
def test_conv2d_bit_exact_and_closed_form(case):
    rng = np.random.default_rng(case["seed"])
    x = _ints(rng, (case["n"], case["c"], case["h"], case["w"]), case["x_bits"], case["x_signed"])
    w = _ints(rng, (case["c_out"], case["c"], case["k"], case["k"]), case["w_bits"],
              case["w_signed"])
    args = (case["stride"], case["padding"], case["x_bits"], case["w_bits"],
            case["x_signed"], case["w_signed"], case["rows"], case["cols"])
    out, events = bitserial_conv2d(x, w, *args)
    assert np.array_equal(out, conv2d_int64(x, w, case["stride"], case["padding"]))
    assert events == conv2d_events(
        case["n"], case["c"], case["h"], case["w"], case["c_out"], case["k"], case["stride"],
        case["padding"], case["x_bits"], case["w_bits"], case["rows"], case["cols"],
    )


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 5), f_in=st.integers(1, 150), f_out=st.integers(1, 6),
    x_bits=st.integers(1, 16), w_bits=st.integers(1, 16),
    x_signed=st.booleans(), w_signed=st.booleans(), seed=st.integers(0, 2**32 - 1),
)
def test_linear_bit_exact_and_closed_form(n, f_in, f_out, x_bits, w_bits, x_signed, w_signed,
                                          seed):
    rng = np.random.default_rng(seed)
    x, w = _ints(rng, (n, f_in), x_bits, x_signed), _ints(rng, (f_out, f_in), w_bits, w_signed)
    out, events = bitserial_linear(x, w, x_bits, w_bits, x_signed, w_signed, 64, 64)
    assert np.array_equal(out, x @ w.T)
    assert events == linear_events(n, f_in, f_out, x_bits, w_bits, 64, 64)


@pytest.mark.parametrize("bits", [8, 16])
def test_extreme_values_exact(bits):
    """All-extreme operands over a long reduction: no overflow, exact sign handling."""
    lo_x, hi_x = value_range(bits, True)
    lo_w, _ = value_range(bits, True)
    x = np.full((1, 64, 5, 5), lo_x, np.int64)
    x[0, ::2] = hi_x
    w = np.full((3, 64, 3, 3), lo_w, np.int64)
    out, _ = bitserial_conv2d(x, w, 1, 1, bits, bits, True, True)
    assert np.array_equal(out, conv2d_int64(x, w, 1, 1))
    xu = np.full((1, 64, 5, 5), (1 << bits) - 1, np.int64)
    out, _ = bitserial_conv2d(xu, w, 1, 1, bits, bits, False, True)
    assert np.array_equal(out, conv2d_int64(xu, w, 1, 1))


def test_matches_torch_conv():
    """8-bit operands are exact in float64, so torch's conv2d is an independent check."""
    rng = np.random.default_rng(1)
    x, w = _ints(rng, (2, 5, 9, 8), 8, False), _ints(rng, (4, 5, 3, 3), 8, True)
    out, _ = bitserial_conv2d(x, w, 2, 1)
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x).double(), torch.from_numpy(w).double(), stride=2, padding=1
    )
    assert np.array_equal(out, expected.numpy().astype(np.int64))


@pytest.mark.parametrize(
    ("shape_x", "shape_w", "stride", "padding", "bits", "signed", "rows", "cols"),
    [
        ((1, 3, 4, 4), (2, 3, 3, 3), 1, 1, (3, 2), (False, True), 16, 64),
        ((2, 8, 3, 5), (5, 8, 3, 3), 2, 0, (2, 3), (True, True), 12, 64),  # 2 chunks, 3 tiles
        ((1, 2, 5, 5), (3, 2, 2, 2), 3, 2, (1, 1), (True, False), 8, 5),  # partial chunks
    ],
)
def test_fast_kernel_same_events_as_subarray_ops(
    shape_x, shape_w, stride, padding, bits, signed, rows, cols
):
    rng = np.random.default_rng(7)
    x = _ints(rng, shape_x, bits[0], signed[0])
    w = _ints(rng, shape_w, bits[1], signed[1])
    args = (stride, padding, bits[0], bits[1], signed[0], signed[1], rows, cols)
    fast, fast_events = bitserial_conv2d(x, w, *args)
    ref, ref_events, loads = reference_conv2d(x, w, *args)
    assert np.array_equal(fast, ref)
    assert np.array_equal(ref, conv2d_int64(x, w, stride, padding))
    assert fast_events == ref_events
    tiling = Tiling(shape_w[0], shape_w[1] * shape_w[2] * shape_w[3], bits[0], bits[1], rows,
                    cols)
    assert loads == weight_load_events(tiling)
    assert ref_events.and2_senses > 0 and ref_events.row_writes > 0


def test_reference_linear_same_as_fast():
    rng = np.random.default_rng(3)
    x, w = _ints(rng, (3, 70), 4, True), _ints(rng, (3, 70), 4, True)
    fast, fast_events = bitserial_linear(x, w, 4, 4, True, True, 12, 64)
    ref, ref_events, _ = reference_linear(x, w, 4, 4, True, True, 12, 64)
    assert np.array_equal(fast, x @ w.T) and np.array_equal(ref, fast)
    assert fast_events == ref_events


def test_closed_form_hand_count():
    """64->64 3x3 conv on 32x32 at 8x8 bits, 256x256 sub-arrays: R = 576 -> 3 chunks,
    g = (256 - 8) // 8 = 31 channels per sub-array -> 3 channel tiles, P = 1024 pixels."""
    ev = conv2d_events(1, 64, 32, 32, 64, 3, 1, 1, 8, 8)
    pairs = 64 * 1024 * 64
    assert ev.and2_senses == ev.bitcounts == ev.shift_adds == pairs * 3
    assert ev.and2_sense_bits == ev.bitcount_bits == pairs * 576
    assert ev.row_writes == 1024 * 8 * 3 * 3
    assert ev.row_write_bits == 1024 * 8 * 576 * 3
    tiling = Tiling(64, 576, 8, 8, 256, 256)
    assert tiling.subarrays == 9
    assert gemm_events(tiling, 1024) == ev
    assert gemm_events(tiling, 2048) == ev * 2 == ev + ev


def test_plane_weights():
    assert plane_weights(4, True).tolist() == [1, 2, 4, -8]
    assert plane_weights(1, False).tolist() == [1]
    assert value_range(1, True) == (-1, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(x_bits=17), "x_bits: must be in 1..16"),
        (dict(w_bits=0), "w_bits: must be in 1..16"),
        (dict(x_bits=4), r"x: values must lie in \[0, 15\] for 4-bit unsigned"),
        (dict(rows=15), "15 rows cannot hold"),
        (dict(stride=0), "stride must be >= 1"),
    ],
)
def test_bad_arguments(kwargs, match):
    x = np.full((1, 2, 3, 3), 200, np.int64)
    w = np.ones((1, 2, 3, 3), np.int64)
    with pytest.raises(PimsimError, match=match):
        bitserial_conv2d(x, w, **kwargs)


def test_bad_operands():
    w = np.ones((1, 2, 3, 3), np.int64)
    with pytest.raises(PimsimError, match="must be an integer array"):
        bitserial_conv2d(np.ones((1, 2, 3, 3)), w)
    with pytest.raises(PimsimError, match="x has 3 channels, w expects 2"):
        bitserial_conv2d(np.ones((1, 3, 3, 3), np.int64), w)
    with pytest.raises(PimsimError, match="kernel 3x3 larger"):
        bitserial_conv2d(np.ones((1, 2, 2, 2), np.int64), w)


def test_refuses_device_with_too_small_and_margin():
    weak = with_overrides(load_device_params(), {"mtj.tmr_ratio": 0.2})
    x, w = np.ones((1, 1, 2, 2), np.int64), np.ones((1, 1, 1, 1), np.int64)
    with pytest.raises(PimsimError, match="and2 sense margin"):
        bitserial_conv2d(x, w, params=weak)
    out, _ = bitserial_conv2d(x, w, params=load_device_params())
    assert out.sum() == 4
