"""The parameter groups every technology shares: ``cell``, ``circuit`` and ``array``.

A technology adds its own group (``mtj``, ``sram``; :mod:`pimsim.device.technologies`). Values
are checked where they enter (:func:`pimsim.paramfile.build_group` for a file,
:func:`pimsim.paramfile.apply_overrides` for an override): every number > 0, ``*_frac`` < 1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CellParams:
    """The storage cell: technology-independent figures.

    ``read_energy_pj`` / ``write_energy_pj`` override the derived per-bit energies used for every
    column of a row operation. ``access_*_energy_pj`` record a published energy of one isolated
    single-bit access including its whole periphery: kept for validation and reports, not
    charged per column (a row operation shares its periphery across the columns).
    """

    nonvolatile: bool
    feature_size_nm: float
    area_f2: float
    read_pulse_ns: float
    write_pulse_ns: float
    read_energy_pj: float | None = None
    write_energy_pj: float | None = None
    access_read_energy_pj: float | None = None
    access_write_energy_pj: float | None = None


@dataclass(frozen=True)
class CircuitParams:
    """Sub-array periphery: supply, bit lines, sense amplifiers, bit-counters, shift-adders with
    their accumulators, decoders, buffers (formulas: :mod:`pimsim.device.physics`)."""

    supply_voltage_v: float
    bitline_wire_cap_ff_per_um: float
    access_drain_cap_ff: float
    sense_amp_energy_pj: float
    sense_amp_min_margin_frac: float
    bitcounter_energy_per_bit_pj: float
    bitcounter_latency_ns: float
    shift_adder_energy_pj: float
    shift_adder_latency_ns: float
    accumulator_bits: int
    register_energy_per_bit_pj: float
    decoder_driver_energy_pj: float
    decoder_driver_latency_ns: float
    buffer_energy_per_bit_pj: float
    periphery_leakage_per_column_nw: float
    periphery_area_per_column_um2: float
    periphery_area_per_row_um2: float


@dataclass(frozen=True)
class ArrayParams:
    """Sub-array geometry; ``rows`` sets the bit-line length of :attr:`DeviceParams.derived`.
    A family is costed on the chip's geometry (``chip.rows x chip.cols`` of the mapping, through
    :meth:`DeviceParams.on_subarrays`), so these matter only for the device alone."""

    rows: int
    cols: int


COMMON_GROUPS: dict[str, type] = {
    "cell": CellParams,
    "circuit": CircuitParams,
    "array": ArrayParams,
}
