"""MTJ-based technologies (SOT- and STT-MRAM): the ``mtj`` group, its physics and sense margins.

Units: V, Ohm, uA, ns in; uA, pJ out. Multi-row (Pinatubo) sensing: activating k rows on one bit
line puts their cells in parallel, so the sense amplifier sees one of k + 1 resistance levels,
set by how many of the k cells are anti-parallel (Li et al., "Pinatubo", DAC 2016). pimsim
encodes logic 1 as the anti-parallel (high-resistance) state. A reference between two adjacent
levels separates them; the relative margin of that reference is

    margin = (R_hi - R_lo) / R_hi

with R_hi, R_lo the adjacent levels. AND2 separates "one AP" from "two AP", OR2 "no AP" from
"one AP", XOR2 needs both references (the smaller margin), MAJ3 separates "one AP" from "two AP"
of three rows, and a plain read separates R_P from R_AP. For R_P = 2.47 kOhm and TMR = 100 % the
two-row levels are 1.235 / 1.647 / 2.470 kOhm: OR2 25 %, AND2 33.3 %, and MAJ3 20 % (levels
0.988 and 1.235 kOhm), the hand-derived figures of the project's hardware notes (section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pimsim.device.technologies import Technology

if TYPE_CHECKING:
    from pimsim.device.groups import CellParams


@dataclass(frozen=True)
class MtjParams:
    """Magnetic tunnel junction: R_AP = R_P * (1 + TMR)."""

    resistance_p_ohm: float
    tmr_ratio: float
    read_voltage_v: float
    write_current_ua: float
    write_path_resistance_ohm: float

    @property
    def resistance_ap_ohm(self) -> float:
        """R_AP (:func:`resistance_ap_ohm`)."""
        return resistance_ap_ohm(self.resistance_p_ohm, self.tmr_ratio)


def resistance_ap_ohm(resistance_p_ohm: float, tmr_ratio: float) -> float:
    """R_AP = R_P * (1 + TMR)."""
    return resistance_p_ohm * (1.0 + tmr_ratio)


def mtj_read_current_ua(
    read_voltage_v: float, resistance_p_ohm: float, tmr_ratio: float
) -> float:
    """Read current I = V_read * (G_P + G_AP) / 2 through the MTJ, averaged over a stored 0 and
    1 (Ohm's law; V/Ohm = 1e6 uA)."""
    r_ap = resistance_ap_ohm(resistance_p_ohm, tmr_ratio)
    return read_voltage_v * 0.5 * (1.0 / resistance_p_ohm + 1.0 / r_ap) * 1e6


def write_energy_pj(write_current_ua: float, resistance_ohm: float, write_pulse_ns: float) -> float:
    """Write energy E = I^2 * R * t dissipated in the write path (SOT: heavy-metal track).

    uA^2 * Ohm * ns = 1e-12 * 1e-9 J = 1e-9 pJ. A lower bound: drivers and periphery add to it,
    which is why a file may override it with a published total.
    """
    return write_current_ua**2 * resistance_ohm * write_pulse_ns * 1e-9


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


class MtjTechnology(Technology):
    """A cell storing its bit in an MTJ: read current from the read bias over R_P / R_AP with
    the bit line clamped at the read bias, Joule-heating write energy, Pinatubo margins from
    R_P and TMR, no cell leakage (a power-gated MRAM sub-array keeps its data)."""

    group = "mtj"
    params_cls = MtjParams
    margin_key = "mtj.tmr_ratio"

    def validate(self, where: str, cell: CellParams, group: MtjParams) -> None:
        """Nothing beyond the values' ranges: every energy can be derived."""

    def read_current_ua(self, group: MtjParams) -> float:
        """:func:`mtj_read_current_ua`."""
        return mtj_read_current_ua(group.read_voltage_v, group.resistance_p_ohm, group.tmr_ratio)

    def bitline_swing_v(self, group: MtjParams) -> float:
        """The bit line is clamped at the read bias: ``mtj.read_voltage_v``."""
        return group.read_voltage_v

    def physics_write_energy_pj(self, cell: CellParams, group: MtjParams) -> float:
        """:func:`write_energy_pj` of the write current through the write path."""
        return write_energy_pj(
            group.write_current_ua, group.write_path_resistance_ohm, cell.write_pulse_ns
        )

    def cell_leakage_nw(self, group: MtjParams) -> float:
        """MTJ cells do not leak: 0."""
        return 0.0

    def margins(self, group: MtjParams) -> dict[str, float]:
        """:func:`mtj_margins`."""
        return mtj_margins(group.resistance_p_ohm, group.tmr_ratio)
