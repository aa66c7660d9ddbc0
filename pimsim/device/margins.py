"""Sense margins of a device's read and logic operations, and the check that refuses too-small
ones. Each technology computes its margins (:meth:`Technology.margins`; MTJ: Pinatubo levels,
:mod:`pimsim.device.technologies.mtj`); the minimum is ``circuit.sense_amp_min_margin_frac``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pimsim.device.params import DeviceParams


def op_margins(params: DeviceParams) -> dict[str, float]:
    """Relative margin of ``read`` and of each logic op (0 for an op the technology lacks)."""
    return params.tech.margins(params.tech_params)


def check_margin(params: DeviceParams, op: str) -> float:
    """Return the margin of ``op``; raise PimsimError if it is below the sense amp's minimum,
    naming the file and the technology's key (``mtj.tmr_ratio``, ``sram.two_row_margin_frac``)."""
    return params.tech.check_margin(
        params.path, params.tech_params, params.circuit.sense_amp_min_margin_frac, op
    )
