"""Device parameter files: frozen, validated dataclasses loaded from ``device_params/*.yaml``.

A file has top-level ``name``, ``technology`` and ``description`` and the groups ``cell``,
``circuit``, ``array``, plus ``mtj`` (SOT- and STT-MRAM) or ``sram`` (SRAM). Every leaf of a group
is ``{value: ..., source: "..."}`` or ``{value: ..., assumption: "..."}``; keys carry their unit.
Every numeric value must be > 0, and keys ending in ``_frac`` must also be < 1. Errors are one
line naming the file and the key (:class:`pimsim.errors.PimsimError`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pimsim.errors import PimsimError
from pimsim.paramfile import build_group, check_value, load_yaml, locate

if TYPE_CHECKING:
    from pimsim.device.physics import DerivedCosts

PRESETS_DIR = Path(__file__).resolve().parents[2] / "device_params"
DEFAULT_PRESET = "sot_mram_45nm"
TECHNOLOGIES = ("sot_mram", "stt_mram", "sram")


class _Group:
    """Shared validation for a parameter group: types, positivity, fractions below 1."""

    def validate(self, where: str, group: str) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            check_value(where, f"{group}.{f.name}", f.type, getattr(self, f.name))


@dataclass(frozen=True)
class CellParams(_Group):
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
class MtjParams(_Group):
    """Magnetic tunnel junction: R_AP = R_P * (1 + TMR)."""

    resistance_p_ohm: float
    tmr_ratio: float
    read_voltage_v: float
    write_current_ua: float
    write_path_resistance_ohm: float

    @property
    def resistance_ap_ohm(self) -> float:
        """R_AP (:func:`pimsim.device.physics.resistance_ap_ohm`)."""
        from pimsim.device.physics import resistance_ap_ohm

        return resistance_ap_ohm(self.resistance_p_ohm, self.tmr_ratio)


@dataclass(frozen=True)
class SramParams(_Group):
    """6T SRAM with dual word-line bit-line computing."""

    cell_leakage_nw: float
    two_row_margin_frac: float


@dataclass(frozen=True)
class CircuitParams(_Group):
    """Sub-array periphery: sense amplifiers, bit-counters, shift-adders, decoders, buffers."""

    sense_amp_energy_pj: float
    sense_amp_min_margin_frac: float
    bitcounter_energy_per_bit_pj: float
    bitcounter_latency_ns: float
    shift_adder_energy_pj: float
    shift_adder_latency_ns: float
    decoder_driver_energy_pj: float
    decoder_driver_latency_ns: float
    buffer_energy_per_bit_pj: float
    periphery_leakage_per_column_nw: float
    periphery_area_per_column_um2: float
    periphery_area_per_row_um2: float


@dataclass(frozen=True)
class ArrayParams(_Group):
    """Default sub-array geometry (the mapper passes its own)."""

    rows: int
    cols: int


_GROUPS: dict[str, type[_Group]] = {
    "cell": CellParams,
    "mtj": MtjParams,
    "sram": SramParams,
    "circuit": CircuitParams,
    "array": ArrayParams,
}


@dataclass(frozen=True)
class DeviceParams:
    """One technology's parameters. ``notes`` maps ``group.key`` to its source or assumption."""

    name: str
    technology: str
    description: str
    path: str
    cell: CellParams
    circuit: CircuitParams
    array: ArrayParams
    mtj: MtjParams | None = None
    sram: SramParams | None = None
    notes: tuple[tuple[str, str], ...] = ()

    def note(self, key: str) -> str:
        """The ``source: ...`` or ``assumption: ...`` note of ``group.key``."""
        return dict(self.notes)[key]

    @cached_property
    def derived(self) -> DerivedCosts:
        """Per-bit and per-row costs derived from the parameters (see :mod:`physics`)."""
        from pimsim.device.physics import derive_costs

        return derive_costs(self)

    def validate(self) -> None:
        """Check every group, the group set of the technology, and the single-row read margin."""
        where = self.path
        if self.technology not in TECHNOLOGIES:
            raise PimsimError(
                f"{where}: technology: must be one of {', '.join(TECHNOLOGIES)}, "
                f"got {self.technology!r}"
            )
        wanted = "sram" if self.technology == "sram" else "mtj"
        other = "mtj" if wanted == "sram" else "sram"
        if getattr(self, wanted) is None:
            raise PimsimError(f"{where}: {wanted}: missing (required for {self.technology})")
        if getattr(self, other) is not None:
            raise PimsimError(f"{where}: {other}: not allowed for {self.technology}")
        for group in _GROUPS:
            value = getattr(self, group)
            if value is not None:
                value.validate(where, group)
        if self.technology == "sram":
            for key in ("read_energy_pj", "write_energy_pj"):
                if getattr(self.cell, key) is None:
                    raise PimsimError(
                        f"{where}: cell.{key}: missing (sram has no resistance to derive it from)"
                    )
        from pimsim.device.margins import check_margin

        check_margin(self, "read")


def parse_device_params(raw: Any, where: str) -> DeviceParams:
    """Build and validate :class:`DeviceParams` from a parsed YAML mapping."""
    if not isinstance(raw, Mapping):
        raise PimsimError(f"{where}: top level: must be a mapping, got {type(raw).__name__}")
    top = {"name", "technology", "description"}
    for key in raw:
        if key not in top and key not in _GROUPS:
            raise PimsimError(f"{where}: {key}: unknown key (a typo?)")
    for key in ("name", "technology", "cell", "circuit", "array"):
        if key not in raw:
            raise PimsimError(f"{where}: {key}: missing")
    for key in top:
        if key in raw and not isinstance(raw[key], str):
            raise PimsimError(f"{where}: {key}: must be a string, got {raw[key]!r}")
    notes: dict[str, str] = {}
    groups = {g: build_group(where, g, _GROUPS[g], raw[g], notes) for g in _GROUPS if g in raw}
    params = DeviceParams(
        name=raw["name"],
        technology=raw["technology"],
        description=raw.get("description", ""),
        path=where,
        notes=tuple(sorted(notes.items())),
        **groups,  # type: ignore[arg-type]
    )
    params.validate()
    return params


def list_presets() -> list[str]:
    """Names of the preset files in ``device_params/``."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_device_params(path_or_name: str | Path = DEFAULT_PRESET) -> DeviceParams:
    """Load a device file by path, or a preset by name (``"sot_mram_45nm"``, the default)."""
    path, where = locate(path_or_name, PRESETS_DIR, "device preset")
    return parse_device_params(load_yaml(path, where), where)


def with_overrides(params: DeviceParams, overrides: Mapping[str, Any]) -> DeviceParams:
    """A copy with ``{"group.key": value}`` replaced, validated again (for sweeps)."""
    where = f"{params.path} (override)"
    groups: dict[str, Any] = {}
    notes = dict(params.notes)
    for dotted, value in overrides.items():
        group, _, key = dotted.partition(".")
        current = groups.get(group, getattr(params, group, None) if group in _GROUPS else None)
        if current is None:
            raise PimsimError(f"{where}: {dotted}: unknown group {group!r}")
        if key not in {f.name for f in fields(current)}:
            raise PimsimError(f"{where}: {dotted}: unknown key (a typo?)")
        groups[group] = dataclasses.replace(current, **{key: value})
        notes[dotted] = f"override: {value!r}"
    new = dataclasses.replace(
        params, path=where, notes=tuple(sorted(notes.items())), **groups
    )
    new.validate()
    return new
