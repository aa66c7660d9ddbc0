"""Sense margins of multi-row (Pinatubo) sensing, and the check that refuses too-small ones.

Activating k rows on one bit line puts their cells in parallel, so the sense amplifier sees one
of k + 1 resistance levels, set by how many of the k cells are anti-parallel (Li et al.,
"Pinatubo", DAC 2016). pimsim encodes logic 1 as the anti-parallel (high-resistance) state.
A reference between two adjacent levels separates them; the relative margin of that reference is

    margin = (R_hi - R_lo) / R_hi

with R_hi, R_lo the adjacent levels. AND2 separates "one AP" from "two AP", OR2 "no AP" from
"one AP", XOR2 needs both references (the smaller margin), MAJ3 separates "one AP" from "two AP"
of three rows, and a plain read separates R_P from R_AP. For R_P = 2.47 kOhm and TMR = 100 % the
two-row levels are 1.235 / 1.647 / 2.470 kOhm: OR2 25 %, AND2 33.3 %, and MAJ3 20 % (levels
0.988 and 1.235 kOhm), the hand-derived figures of the project's hardware notes (section 3).
SRAM bit-line computing has no resistance levels: its file gives one two-row margin and
three-row majority is not supported (margin 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pimsim.device.physics import resistance_ap_ohm
from pimsim.errors import PimsimError

if TYPE_CHECKING:
    from pimsim.device.params import DeviceParams

LOGIC_OPS = ("and2", "or2", "xor2", "maj3")
OP_ROWS = {"read": 1, "and2": 2, "or2": 2, "xor2": 2, "maj3": 3}


def parallel_ohm(*resistances_ohm: float) -> float:
    """Resistance of cells in parallel: 1 / sum(1 / R_i)."""
    return 1.0 / sum(1.0 / r for r in resistances_ohm)


def sense_levels_ohm(resistance_p_ohm: float, tmr_ratio: float, rows: int) -> list[float]:
    """The rows + 1 levels seen by the sense amplifier, index = number of AP cells (ascending)."""
    r_ap = resistance_ap_ohm(resistance_p_ohm, tmr_ratio)
    return [parallel_ohm(*([resistance_p_ohm] * (rows - a) + [r_ap] * a)) for a in range(rows + 1)]


def relative_margin(r_lo_ohm: float, r_hi_ohm: float) -> float:
    """(R_hi - R_lo) / R_hi between two adjacent levels."""
    return (r_hi_ohm - r_lo_ohm) / r_hi_ohm


def mtj_margins(resistance_p_ohm: float, tmr_ratio: float) -> dict[str, float]:
    """Relative margin of a read and of each logic op, logic 1 = anti-parallel."""
    one = sense_levels_ohm(resistance_p_ohm, tmr_ratio, 1)
    two = sense_levels_ohm(resistance_p_ohm, tmr_ratio, 2)
    three = sense_levels_ohm(resistance_p_ohm, tmr_ratio, 3)
    or2 = relative_margin(two[0], two[1])
    and2 = relative_margin(two[1], two[2])
    return {
        "read": relative_margin(one[0], one[1]),
        "and2": and2,
        "or2": or2,
        "xor2": min(and2, or2),
        "maj3": relative_margin(three[1], three[2]),
    }


def op_margins(params: DeviceParams) -> dict[str, float]:
    """Margins of read and logic ops for any technology (SRAM: file value, no MAJ3)."""
    if params.mtj is not None:
        return mtj_margins(params.mtj.resistance_p_ohm, params.mtj.tmr_ratio)
    assert params.sram is not None
    two = params.sram.two_row_margin_frac
    return {"read": 1.0, "and2": two, "or2": two, "xor2": two, "maj3": 0.0}


def check_margin(params: DeviceParams, op: str) -> float:
    """Return the margin of ``op``; raise PimsimError if it is below the sense amp's minimum."""
    margins = op_margins(params)
    if op not in margins:
        raise PimsimError(f"{params.path}: unknown sense operation {op!r}; known: {list(margins)}")
    margin = margins[op]
    minimum = params.circuit.sense_amp_min_margin_frac
    if margin < minimum:
        key = "mtj.tmr_ratio" if params.mtj is not None else "sram.two_row_margin_frac"
        raise PimsimError(
            f"{params.path}: {key}: {op} sense margin {margin:.3f} is below "
            f"circuit.sense_amp_min_margin_frac {minimum}"
        )
    return margin
