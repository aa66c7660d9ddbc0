"""Device parameter files: frozen, validated dataclasses loaded from ``device_params/*.yaml``.

A file has top-level ``name``, ``technology`` and ``description``, the shared groups ``cell``,
``circuit``, ``array`` (:mod:`pimsim.device.groups`), and the group of its technology (``mtj``
for SOT- and STT-MRAM, ``sram`` for SRAM; :mod:`pimsim.device.technologies`). Every leaf of a
group is ``{value: ..., source: "..."}`` or ``{value: ..., assumption: "..."}``; keys carry
their unit. Every numeric value must be > 0, and keys ending in ``_frac`` must also be < 1.
Errors are one line naming the file and the key (:class:`pimsim.errors.PimsimError`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pimsim.bundled import bundled_dir
from pimsim.device.groups import COMMON_GROUPS, ArrayParams, CellParams, CircuitParams
from pimsim.device.physics import DerivedCosts, derive_costs
from pimsim.device.technologies import Technology, get_technology, known_technologies
from pimsim.device.variation import (
    VariationParams,
    parse_variation,
    variation_with_overrides,
)
from pimsim.errors import PimsimError
from pimsim.paramfile import apply_overrides, build_group, load_yaml, locate, show

PRESETS_DIR = bundled_dir("device_params")
DEFAULT_PRESET = "sot_mram_45nm"
TOP_LEVEL_KEYS = ("name", "technology", "description")
VARIATION = "variation"  # the optional group of :mod:`pimsim.device.variation`


@dataclass(frozen=True)
class DeviceParams:
    """One device's parameters. ``tech_params``: the technology's own group, also readable by
    its name (``params.mtj``, ``params.sram``). ``notes`` maps ``group.key`` to its source or
    assumption."""

    name: str
    technology: str
    description: str
    path: str
    cell: CellParams
    circuit: CircuitParams
    array: ArrayParams
    tech_params: Any
    notes: tuple[tuple[str, str], ...] = ()
    variation: VariationParams | None = None

    def __getattr__(self, name: str) -> Any:
        """The technology's group by its name: ``params.mtj``, ``params.sram``."""
        state = self.__dict__  # not self.x: this runs before __init__ when unpickling
        if "technology" in state and name == get_technology(state["technology"],
                                                            state["path"]).group:
            return state["tech_params"]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def tech(self) -> Technology:
        """The :class:`Technology` named by ``technology``."""
        return get_technology(self.technology, self.path)

    @property
    def groups(self) -> dict[str, Any]:
        """Every parameter group by its name in the file."""
        return {"cell": self.cell, self.tech.group: self.tech_params, "circuit": self.circuit,
                "array": self.array}

    def note(self, key: str) -> str:
        """The ``source: ...`` or ``assumption: ...`` note of ``group.key``."""
        return dict(self.notes)[key]

    @cached_property
    def derived(self) -> DerivedCosts:
        """Per-bit and per-row costs derived from the parameters (see :mod:`physics`), for a
        bit line of ``array.rows`` rows."""
        return derive_costs(self.tech, self.cell, self.circuit, self.tech_params, self.array.rows)

    def on_subarrays(self, rows: int, cols: int) -> DeviceParams:
        """The same device on ``rows x cols`` sub-arrays (the chip's geometry, which sets the
        bit-line length of :attr:`derived`); ``self`` when the geometry is already that."""
        if (self.array.rows, self.array.cols) == (rows, cols):
            return self
        notes = dict(self.notes) | {"array.rows": "from the chip mapping (chip.rows)",
                                    "array.cols": "from the chip mapping (chip.cols)"}
        return dataclasses.replace(self, array=ArrayParams(rows, cols),
                                   notes=tuple(sorted(notes.items())))

    def validate(self) -> None:
        """The technology's own checks, and the single-row read margin (values are checked
        where they enter: :func:`pimsim.paramfile.build_group`, ``apply_overrides``)."""
        tech = self.tech
        tech.validate(self.path, self.cell, self.tech_params)
        tech.check_margin(self.path, self.tech_params, self.circuit.sense_amp_min_margin_frac,
                          "read")


def parse_device_params(raw: Any, where: str) -> DeviceParams:
    """Build and validate :class:`DeviceParams` from a parsed YAML mapping."""
    if not isinstance(raw, Mapping):
        raise PimsimError(f"{where}: top level: must be a mapping, got {type(raw).__name__}")
    for key in ("name", "technology"):
        if key not in raw:
            raise PimsimError(f"{where}: {key}: missing")
    for key in TOP_LEVEL_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise PimsimError(f"{where}: {key}: must be a string, got {show(raw[key])}")
    tech = get_technology(raw["technology"], where)
    classes = {**COMMON_GROUPS, tech.group: tech.params_cls}
    other_groups = {t.group for t in known_technologies().values()} - set(classes)
    for key in raw:
        if key in other_groups:
            raise PimsimError(f"{where}: {key}: not allowed for {tech.name} (it uses {tech.group})")
        if key not in TOP_LEVEL_KEYS and key not in classes and key != VARIATION:
            raise PimsimError(f"{where}: {key}: unknown key (a typo?)")
    for group in classes:
        if group not in raw:
            needed = f" (required for {tech.name})" if group == tech.group else ""
            raise PimsimError(f"{where}: {group}: missing{needed}")
    notes: dict[str, str] = {}
    groups = {g: build_group(where, g, cls, raw[g], notes) for g, cls in classes.items()}
    variation = parse_variation(where, raw[VARIATION], notes) if VARIATION in raw else None
    params = DeviceParams(
        name=raw["name"],
        technology=tech.name,
        description=raw.get("description", ""),
        path=where,
        tech_params=groups.pop(tech.group),
        notes=tuple(sorted(notes.items())),
        variation=variation,
        **groups,
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
    """A copy with ``{"group.key": value}`` replaced, validated as a file is (for sweeps).
    ``variation.*`` keys need the file's variation group."""
    prefix = f"{VARIATION}."
    varied = {k.removeprefix(prefix): v for k, v in overrides.items() if k.startswith(prefix)}
    rest = {k: v for k, v in overrides.items() if not k.startswith(prefix)}
    where, groups, notes = apply_overrides(params.path, params.groups, rest, params.notes)
    variation = params.variation
    if varied:
        if variation is None:
            raise PimsimError(f"{where}: {prefix}{min(varied)}: the file has no variation group")
        variation = variation_with_overrides(where, variation, varied)
        notes = tuple(sorted(dict(notes, **{f"{prefix}{k}": f"override: {v!r}"
                                            for k, v in varied.items()}).items()))
    new = dataclasses.replace(params, path=where, notes=notes, variation=variation,
                              tech_params=groups.pop(params.tech.group), **groups)
    new.validate()
    return new
