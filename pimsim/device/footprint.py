"""Area and leakage of one powered sub-array of ``rows x cols`` cells."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pimsim.device.params import DeviceParams


def subarray_area_um2(params: DeviceParams, rows: int, cols: int) -> float:
    """Cells plus periphery: rows*cols*cell_area + cols*area_per_column + rows*area_per_row."""
    circuit = params.circuit
    return (
        rows * cols * params.derived.cell_area_um2
        + cols * circuit.periphery_area_per_column_um2
        + rows * circuit.periphery_area_per_row_um2
    )


def subarray_leakage_uw(params: DeviceParams, rows: int, cols: int) -> float:
    """Leakage of a powered sub-array: cols * periphery per column + rows*cols * cell leakage.

    The cell leakage is the technology's: MRAM cells do not leak (a power-gated MRAM sub-array
    leaks nothing and keeps its data), SRAM cells do.
    """
    cell_nw = params.tech.cell_leakage_nw(params.tech_params)
    nw = cols * params.circuit.periphery_leakage_per_column_nw + rows * cols * cell_nw
    return nw * 1e-3
