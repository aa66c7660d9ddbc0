"""Every cost formula derived from device physics, in one place.

Units: V, Ohm, uA, ns in; pJ, ns, um^2, uW out. A value given in the file (``cell.read_energy_pj``,
``cell.write_energy_pj``) overrides the physics value; both stay visible here for reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pimsim.device.params import DeviceParams


def resistance_ap_ohm(resistance_p_ohm: float, tmr_ratio: float) -> float:
    """R_AP = R_P * (1 + TMR)."""
    return resistance_p_ohm * (1.0 + tmr_ratio)


def mtj_read_energy_pj(
    read_voltage_v: float, resistance_p_ohm: float, tmr_ratio: float, read_pulse_ns: float
) -> float:
    """Cell read energy E = V^2 * (G_P + G_AP) / 2 * t, averaged over a stored 0 and 1.

    Joule heating of the read current through the MTJ (Ohm's law); V^2/Ohm * ns = 1e-9 J = 1e3 pJ.
    """
    r_ap = resistance_ap_ohm(resistance_p_ohm, tmr_ratio)
    mean_conductance = 0.5 * (1.0 / resistance_p_ohm + 1.0 / r_ap)
    return read_voltage_v**2 * mean_conductance * read_pulse_ns * 1e3


def write_energy_pj(write_current_ua: float, resistance_ohm: float, write_pulse_ns: float) -> float:
    """Write energy E = I^2 * R * t dissipated in the write path (SOT: heavy-metal track).

    uA^2 * Ohm * ns = 1e-12 * 1e-9 J = 1e-9 pJ. A lower bound: drivers and periphery add to it,
    which is why a file may override it with a published total.
    """
    return write_current_ua**2 * resistance_ohm * write_pulse_ns * 1e-9


def cell_area_um2(area_f2: float, feature_size_nm: float) -> float:
    """Cell area = area_F2 * F^2, with F in um."""
    return area_f2 * (feature_size_nm * 1e-3) ** 2


@dataclass(frozen=True)
class DerivedCosts:
    """Per-bit and per-row costs a cost model uses; see each formula above.

    cell_read_energy_pj: physics energy of one activated cell during a sense (SRAM: the file's
        read energy per bit); each extra row of a multi-row sense adds it once.
    read_bit_energy_pj: one bit read through its sense amplifier: the file's override, else
        cell_read_energy_pj + circuit.sense_amp_energy_pj.
    write_bit_energy_pj: the file's override, else I^2 R t.
    """

    cell_read_energy_pj: float
    physics_write_energy_pj: float | None
    read_bit_energy_pj: float
    write_bit_energy_pj: float
    read_latency_ns: float
    write_latency_ns: float
    cell_area_um2: float


def derive_costs(params: DeviceParams) -> DerivedCosts:
    """Derive :class:`DerivedCosts` from validated parameters."""
    cell, circuit = params.cell, params.circuit
    if params.mtj is not None:
        mtj = params.mtj
        cell_read = mtj_read_energy_pj(
            mtj.read_voltage_v, mtj.resistance_p_ohm, mtj.tmr_ratio, cell.read_pulse_ns
        )
        physics_write = write_energy_pj(
            mtj.write_current_ua, mtj.write_path_resistance_ohm, cell.write_pulse_ns
        )
    else:
        assert cell.read_energy_pj is not None
        cell_read, physics_write = cell.read_energy_pj, None
    read_bit = cell.read_energy_pj
    if read_bit is None:
        read_bit = cell_read + circuit.sense_amp_energy_pj
    write_bit = cell.write_energy_pj if cell.write_energy_pj is not None else physics_write
    assert write_bit is not None
    return DerivedCosts(
        cell_read_energy_pj=cell_read,
        physics_write_energy_pj=physics_write,
        read_bit_energy_pj=read_bit,
        write_bit_energy_pj=write_bit,
        read_latency_ns=cell.read_pulse_ns,
        write_latency_ns=cell.write_pulse_ns,
        cell_area_um2=cell_area_um2(cell.area_f2, cell.feature_size_nm),
    )


def subarray_area_um2(params: DeviceParams, rows: int, cols: int) -> float:
    """Cells plus periphery: rows*cols*cell_area + cols*area_per_column + rows*area_per_row."""
    circuit = params.circuit
    return (
        rows * cols * params.derived.cell_area_um2
        + cols * circuit.periphery_area_per_column_um2
        + rows * circuit.periphery_area_per_row_um2
    )


def subarray_leakage_uw(params: DeviceParams, rows: int, cols: int) -> float:
    """Leakage of a powered sub-array: cols * periphery per column (+ rows*cols*cell for SRAM).

    MRAM cells do not leak; a power-gated MRAM sub-array leaks nothing and keeps its data.
    """
    nw = cols * params.circuit.periphery_leakage_per_column_nw
    if params.sram is not None:
        nw += rows * cols * params.sram.cell_leakage_nw
    return nw * 1e-3
