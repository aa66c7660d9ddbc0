"""6T SRAM with dual word-line bit-line computing (Jeloka et al., JSSC 2016; Neural Cache,
Eckert et al., ISCA 2018): volatile, its cells leak while powered. Two rows on one bit line give
AND (BL) and NOR (BLB); there are no resistance levels, so the file gives one two-row margin,
three-row majority is not supported (margin 0). A sense discharges the precharged bit line by
``sram.bitline_swing_v`` (its cell current is that discharge: no supply current beyond the
bit-line charge), so the read energy follows the shared bit-line model; the file gives the
write energy (``cell.write_energy_pj``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pimsim.device.technologies import Technology
from pimsim.errors import PimsimError

if TYPE_CHECKING:
    from pimsim.device.groups import CellParams


@dataclass(frozen=True)
class SramParams:
    """6T SRAM with dual word-line bit-line computing."""

    cell_leakage_nw: float
    two_row_margin_frac: float
    bitline_swing_v: float


class Sram(Technology):
    """6T SRAM; ``cell.write_energy_pj`` is required."""

    name = "sram"
    group = "sram"
    params_cls = SramParams
    margin_key = "sram.two_row_margin_frac"

    def validate(self, where: str, cell: CellParams, group: SramParams) -> None:
        """The file must give ``cell.write_energy_pj``."""
        if cell.write_energy_pj is None:
            raise PimsimError(
                f"{where}: cell.write_energy_pj: missing (sram has no write physics to derive it)"
            )

    def read_current_ua(self, group: SramParams) -> float:
        """0: the cell current discharges the bit line (counted in the bit-line charge)."""
        return 0.0

    def bitline_swing_v(self, group: SramParams) -> float:
        """``sram.bitline_swing_v``: the discharge the sense amplifier resolves."""
        return group.bitline_swing_v

    def physics_write_energy_pj(self, cell: CellParams, group: SramParams) -> None:
        """None: the file gives ``cell.write_energy_pj``."""
        return None

    def cell_leakage_nw(self, group: SramParams) -> float:
        """``sram.cell_leakage_nw``."""
        return group.cell_leakage_nw

    def margins(self, group: SramParams) -> dict[str, float]:
        """Read 1; AND2, OR2, XOR2 the file's two-row margin; MAJ3 0 (unsupported)."""
        two = group.two_row_margin_frac
        return {"read": 1.0, "and2": two, "or2": two, "xor2": two, "maj3": 0.0}


TECHNOLOGY = Sram()
