"""6T SRAM with dual word-line bit-line computing (Jeloka et al., JSSC 2016; Neural Cache,
Eckert et al., ISCA 2018): volatile, its cells leak while powered. Two rows on one bit line give
AND (BL) and NOR (BLB); there are no resistance levels, so the file gives one two-row margin,
three-row majority is not supported (margin 0), and the file must give the read and write
energies (nothing to derive them from)."""

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


class Sram(Technology):
    """6T SRAM; ``cell.read_energy_pj`` and ``cell.write_energy_pj`` are required."""

    name = "sram"
    group = "sram"
    params_cls = SramParams
    margin_key = "sram.two_row_margin_frac"

    def validate(self, where: str, cell: CellParams, group: SramParams) -> None:
        """The file must give ``cell.read_energy_pj`` and ``cell.write_energy_pj``."""
        for key in ("read_energy_pj", "write_energy_pj"):
            if getattr(cell, key) is None:
                raise PimsimError(
                    f"{where}: cell.{key}: missing (sram has no resistance to derive it from)"
                )

    def cell_read_energy_pj(self, cell: CellParams, group: SramParams) -> float:
        """The file's ``cell.read_energy_pj`` (bit-line sensing per column)."""
        assert cell.read_energy_pj is not None
        return cell.read_energy_pj

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
