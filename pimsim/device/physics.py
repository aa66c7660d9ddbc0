"""The per-bit and per-row costs a cost model uses, derived from the parameter groups.

Units: ns in; pJ, ns, um^2 out. The technology supplies its physics (cell read energy, write
energy; :mod:`pimsim.device.technologies`); a value given in the file (``cell.read_energy_pj``,
``cell.write_energy_pj``) overrides it, and both stay visible here for reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pimsim.device.groups import CellParams, CircuitParams
    from pimsim.device.technologies import Technology


def cell_area_um2(area_f2: float, feature_size_nm: float) -> float:
    """Cell area = area_F2 * F^2, with F in um."""
    return area_f2 * (feature_size_nm * 1e-3) ** 2


@dataclass(frozen=True)
class DerivedCosts:
    """Per-bit and per-row costs a cost model uses.

    cell_read_energy_pj: the technology's energy of one activated cell during a sense (SRAM: the
        file's read energy per bit); each extra row of a multi-row sense adds it once.
    physics_write_energy_pj: the technology's write energy per bit (None: it has none).
    read_bit_energy_pj: one bit read through its sense amplifier: the file's override, else
        cell_read_energy_pj + circuit.sense_amp_energy_pj.
    write_bit_energy_pj: the file's override, else physics_write_energy_pj.
    """

    cell_read_energy_pj: float
    physics_write_energy_pj: float | None
    read_bit_energy_pj: float
    write_bit_energy_pj: float
    read_latency_ns: float
    write_latency_ns: float
    cell_area_um2: float


def derive_costs(
    technology: Technology, cell: CellParams, circuit: CircuitParams, group: Any
) -> DerivedCosts:
    """Derive :class:`DerivedCosts` from validated groups (``group``: the technology's own)."""
    cell_read = technology.cell_read_energy_pj(cell, group)
    physics_write = technology.physics_write_energy_pj(cell, group)
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
