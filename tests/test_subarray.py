"""The computational sub-array: bitwise results of multi-row sensing, counted events, refusals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.device import cost, load_device_params, with_overrides
from pimsim.device.events import EventCounts
from pimsim.device.subarray import SubArray
from pimsim.errors import PimsimError

PARAMS = load_device_params()


@settings(max_examples=40, deadline=None)
@given(
    cols=st.integers(1, 200),
    data=st.data(),
)
def test_logic_ops_match_numpy(cols, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rows = rng.integers(0, 2, (3, cols)).astype(np.uint8)
    col0 = data.draw(st.integers(0, cols - 1))
    ncols = data.draw(st.integers(1, cols - col0))
    sa = SubArray(PARAMS, 4, cols)
    for r in range(3):
        sa.write_row(r, rows[r])
    a, b, c = (rows[:, col0 : col0 + ncols]).astype(bool)
    expected = {
        "and2": a & b,
        "or2": a | b,
        "xor2": a ^ b,
        "maj3": (a & b) | (a & c) | (b & c),
    }
    for op, want in expected.items():
        sa.sense(op, (0, 1, 2) if op == "maj3" else (0, 1), col0, ncols)
        assert np.array_equal(sa.latched(col0, ncols), want.astype(np.uint8))
        assert sa.bitcount(col0, ncols) == int(want.sum())
    assert np.array_equal(sa.read_row(2, col0, ncols), rows[2, col0 : col0 + ncols])


def test_sense_leaves_other_latched_columns():
    sa = SubArray(PARAMS, 2, 130)
    sa.write_row(0, np.ones(130, np.uint8))
    sa.write_row(1, np.ones(130, np.uint8))
    sa.read_row(0)
    sa.write_row(1, np.zeros(60, np.uint8), col0=50)
    sa.sense("and2", (0, 1), 40, 80)
    latched = sa.latched()
    assert latched[:50].all() and not latched[50:110].any() and latched[110:].all()


def test_events_counted_by_kind():
    sa = SubArray(PARAMS, 4, 100)
    sa.write_row(0, np.ones(100, np.uint8))
    sa.write_row(1, np.ones(30, np.uint8), col0=10)
    sa.read_row(0, 0, 64)
    sa.sense("and2", (0, 1), 10, 30)
    sa.sense("xor2", (0, 1))
    sa.sense("maj3", (0, 1, 2), 0, 7)
    assert sa.bitcount(10, 30) == 30 - 30  # XOR of equal ones over [10, 40) is zero
    acc = sa.shift_add(0, 5, 3)
    acc = sa.shift_add(acc, 1, 2, subtract=True)
    assert acc == 36
    assert sa.events == EventCounts(
        row_reads=1, row_read_bits=64, row_writes=2, row_write_bits=130,
        and2_senses=1, and2_sense_bits=30, xor2_senses=1, xor2_sense_bits=100,
        maj3_senses=1, maj3_sense_bits=7, bitcounts=1, bitcount_bits=30, shift_adds=2,
    )
    c = cost(sa.events, PARAMS)
    assert c.total_energy_pj > 0 and set(c.energy_pj) == set(c.latency_ns)
    sa.reset_events()
    assert sa.events == EventCounts()


def test_refuses_low_margin_op():
    """TMR 0.35: MAJ3 margin 0.095 is below the 0.1 minimum; AND2 (0.149) still works."""
    weak = with_overrides(PARAMS, {"mtj.tmr_ratio": 0.35})
    sa = SubArray(weak, 3, 8)
    sa.sense("and2", (0, 1))
    with pytest.raises(PimsimError, match="maj3 sense margin"):
        sa.sense("maj3", (0, 1, 2))
    assert sa.events.maj3_senses == 0


def test_sram_refuses_majority():
    sa = SubArray(load_device_params("sram_45nm"), 3, 8)
    with pytest.raises(PimsimError, match="sram.two_row_margin_frac: maj3"):
        sa.sense("maj3", (0, 1, 2))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda sa: sa.write_row(9, np.ones(3)), "row 9 outside"),
        (lambda sa: sa.write_row(0, np.ones(20)), r"columns \[0, 20\) outside"),
        (lambda sa: sa.read_row(0, 15, 2), r"columns \[15, 17\)"),
        (lambda sa: sa.sense("nand2", (0, 1)), "unknown logic op 'nand2'"),
        (lambda sa: sa.sense("and2", (1, 1)), "needs 2 distinct rows"),
        (lambda sa: sa.sense("maj3", (0, 1)), "needs 3 distinct rows"),
    ],
)
def test_bad_operations(call, match):
    with pytest.raises(PimsimError, match=match):
        call(SubArray(PARAMS, 4, 16))
