"""The per-bit and per-row costs a cost model uses, derived from the parameter groups.

Units: V, fF, uA, ns in; pJ, ns, um^2 out. The technology supplies its physics (the read current
of one activated cell, the bit-line swing of a sense, the write energy;
:mod:`pimsim.device.technologies`); the shared ``circuit`` group the supply, the bit-line
capacitance and the accumulator. A value given in the file (``cell.read_energy_pj``,
``cell.write_energy_pj``) overrides the derived one, and both stay visible here for reports.

The sense of one column (Accelergy-style action energy, one formula per term):

    E_column = C_BL * V_DD * V_swing + I_read * V_DD * t_pulse + E_SA
    C_BL     = rows * (c_wire * cell_pitch + c_drain)

The bit line is charged from the supply to its swing once per sense; every activated cell draws
its read current from the supply for the read pulse; the sense amplifier decides once. A k-row
(logic) sense activates k cells on the same bit line: k read currents, one bit-line charge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pimsim.device.groups import CellParams, CircuitParams
    from pimsim.device.technologies import Technology


def cell_area_um2(area_f2: float, feature_size_nm: float) -> float:
    """Cell area = area_F2 * F^2, with F in um."""
    return area_f2 * (feature_size_nm * 1e-3) ** 2


def bitline_cap_ff(rows: int, cell_area: float, wire_cap_ff_per_um: float,
                   drain_cap_ff: float) -> float:
    """C_BL = rows * (c_wire * sqrt(cell_area) + c_drain): a square cell's pitch of bit-line
    wire per row (NeuroSim's ``capCol = lengthCol * 0.2e-15/1e-6``) plus one access transistor's
    drain on the line per row. ``cell_area`` in um^2."""
    return rows * (wire_cap_ff_per_um * math.sqrt(cell_area) + drain_cap_ff)


def bitline_energy_pj(cap_ff: float, supply_v: float, swing_v: float) -> float:
    """Charge drawn from the supply to swing a bit line: E = C_BL * V_DD * V_swing
    (fF * V * V = fJ = 1e-3 pJ)."""
    return cap_ff * supply_v * swing_v * 1e-3


def supply_energy_pj(current_ua: float, supply_v: float, time_ns: float) -> float:
    """Energy of a current drawn from the supply: E = I * V_DD * t (uA * V * ns = 1e-3 pJ)."""
    return current_ua * supply_v * time_ns * 1e-3


def accumulate_energy_pj(adder_pj: float, accumulator_bits: int, register_bit_pj: float) -> float:
    """One shift-add into an accumulator register: the adder, plus reading and writing back
    every accumulator bit: E = E_add + 2 * bits * E_register_bit."""
    return adder_pj + 2 * accumulator_bits * register_bit_pj


@dataclass(frozen=True)
class DerivedCosts:
    """Per-bit and per-row costs a cost model uses.

    bitline_cap_ff: C_BL of one column over ``rows`` rows (:func:`bitline_cap_ff`).
    bitline_energy_pj: one sense's bit-line charge per column (:func:`bitline_energy_pj`).
    cell_read_energy_pj: the supply energy of one activated cell's read current over the read
        pulse (:func:`supply_energy_pj`); each extra row of a multi-row sense adds it once.
    physics_write_energy_pj: the technology's write energy per bit (None: it has none).
    read_bit_energy_pj: one column sensed through its sense amplifier: the file's override, else
        bitline_energy_pj + cell_read_energy_pj + circuit.sense_amp_energy_pj.
    write_bit_energy_pj: the file's override, else physics_write_energy_pj.
    shift_add_energy_pj: one shift-add with its accumulator read and write
        (:func:`accumulate_energy_pj`).
    """

    bitline_cap_ff: float
    bitline_energy_pj: float
    cell_read_energy_pj: float
    physics_write_energy_pj: float | None
    read_bit_energy_pj: float
    write_bit_energy_pj: float
    shift_add_energy_pj: float
    read_latency_ns: float
    write_latency_ns: float
    cell_area_um2: float


def derive_costs(
    technology: Technology, cell: CellParams, circuit: CircuitParams, group: Any, rows: int
) -> DerivedCosts:
    """Derive :class:`DerivedCosts` from validated groups (``group``: the technology's own) for
    a sub-array of ``rows`` rows (the bit-line length)."""
    area = cell_area_um2(cell.area_f2, cell.feature_size_nm)
    cap = bitline_cap_ff(rows, area, circuit.bitline_wire_cap_ff_per_um,
                         circuit.access_drain_cap_ff)
    bitline = bitline_energy_pj(cap, circuit.supply_voltage_v, technology.bitline_swing_v(group))
    cell_read = supply_energy_pj(technology.read_current_ua(group), circuit.supply_voltage_v,
                                 cell.read_pulse_ns)
    physics_write = technology.physics_write_energy_pj(cell, group)
    read_bit = cell.read_energy_pj
    if read_bit is None:
        read_bit = bitline + cell_read + circuit.sense_amp_energy_pj
    write_bit = cell.write_energy_pj if cell.write_energy_pj is not None else physics_write
    assert write_bit is not None
    return DerivedCosts(
        bitline_cap_ff=cap,
        bitline_energy_pj=bitline,
        cell_read_energy_pj=cell_read,
        physics_write_energy_pj=physics_write,
        read_bit_energy_pj=read_bit,
        write_bit_energy_pj=write_bit,
        shift_add_energy_pj=accumulate_energy_pj(circuit.shift_adder_energy_pj,
                                                 circuit.accumulator_bits,
                                                 circuit.register_energy_per_bit_pj),
        read_latency_ns=cell.read_pulse_ns,
        write_latency_ns=cell.write_pulse_ns,
        cell_area_um2=area,
    )
