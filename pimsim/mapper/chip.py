"""Chip organisation and mapping policy, from ``mappings/*.yaml`` (validated, one-line errors).

Capacity: ``banks * mats_per_bank * subarrays_per_mat`` sub-arrays of ``rows x cols`` cells.
The compute scheme (bit-serial AND2 of weight and activation bit-planes, then a bit-count per
column; ``mapper/cost.py``) senses with ``SENSE_OPS``; the device must resolve each of them
(:func:`pimsim.device.feasibility.check_feasible`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pimsim.bundled import bundled_dir
from pimsim.errors import PimsimError
from pimsim.paramfile import apply_overrides, build_group, load_yaml, locate, show

MAPPINGS_DIR = bundled_dir("mappings")
MAPPING_GROUPS = ("chip", "policy")  # a mapping file's parameter groups (``--set`` keys too)
DEFAULT_MAPPING = "default"
POLICY_CHOICES = {"execution": ("layer-by-layer", "pipelined"),
                  "weights": ("resident", "reload"),
                  "volatile_unused": ("keep-powered", "gate")}
SENSE_OPS = ("and2",)
MAX_SUBARRAYS = 1 << 24  # banks * mats_per_bank * subarrays_per_mat (mappings/README.md)


@dataclass(frozen=True)
class ChipParams:
    banks: int
    mats_per_bank: int
    subarrays_per_mat: int
    rows: int
    cols: int
    clock_ghz: float
    bus_width_bits: int
    bus_energy_per_bit_pj: float
    psum_energy_per_bit_pj: float
    psum_add_energy_pj: float
    buffer_energy_per_bit_pj: float
    buffer_leakage_nw_per_bit: float
    buffer_area_um2_per_bit: float
    periphery_area_ratio: float
    wakeup_energy_pj: float
    wakeup_latency_ns: float

    @property
    def subarrays(self) -> int:
        """banks * mats_per_bank * subarrays_per_mat."""
        return self.banks * self.mats_per_bank * self.subarrays_per_mat


@dataclass(frozen=True)
class MappingPolicy:
    execution: str = "layer-by-layer"
    weights: str = "resident"
    volatile_unused: str = "keep-powered"
    replicate: bool = True
    overlap_stages: bool = True
    gate_layers: bool = True


@dataclass(frozen=True)
class ChipMapping:
    """A chip and a policy. ``notes`` maps ``chip.key`` to its source or assumption."""

    name: str
    path: str
    chip: ChipParams
    policy: MappingPolicy
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def sense_ops(self) -> tuple[str, ...]:
        """The logic sense operations this mapping's compute scheme uses (``SENSE_OPS``)."""
        return SENSE_OPS

    def validate(self) -> None:
        """Each policy value is one of its choices and the chip has at most ``MAX_SUBARRAYS``
        sub-arrays (values are checked where they enter)."""
        if self.chip.subarrays > MAX_SUBARRAYS:
            raise PimsimError(f"{self.path}: chip: banks * mats_per_bank * subarrays_per_mat "
                              f"must be <= {MAX_SUBARRAYS}, got {self.chip.subarrays}")
        for key, choices in POLICY_CHOICES.items():
            value = getattr(self.policy, key)
            if value not in choices:
                raise PimsimError(f"{self.path}: policy.{key}: must be one of "
                                  f"{', '.join(choices)}, got {show(value)}")


def parse_mapping(raw: Any, where: str) -> ChipMapping:
    if not isinstance(raw, Mapping):
        raise PimsimError(f"{where}: top level: must be a mapping")
    for key in raw:
        if key not in ("name", "description", *MAPPING_GROUPS):
            raise PimsimError(f"{where}: {key}: unknown key (a typo?)")
    for key in ("name", "chip"):
        if key not in raw:
            raise PimsimError(f"{where}: {key}: missing")
    notes: dict[str, str] = {}
    chip = build_group(where, "chip", ChipParams, raw["chip"], notes)
    policy = build_group(where, "policy", MappingPolicy, raw.get("policy", {}), None,
                         cited=False)
    mapping = ChipMapping(str(raw["name"]), where, chip, policy, tuple(sorted(notes.items())))
    mapping.validate()
    return mapping


def load_mapping(path_or_name: str | Path = DEFAULT_MAPPING) -> ChipMapping:
    """A mapping file by path, or by name from ``mappings/`` (``"default"``)."""
    path, where = locate(path_or_name, MAPPINGS_DIR, "mapping")
    return parse_mapping(load_yaml(path, where), where)


def mapping_with_overrides(mapping: ChipMapping, overrides: Mapping[str, Any]) -> ChipMapping:
    """A copy with ``{"chip.rows": 128, "policy.execution": "pipelined"}`` applied, validated as
    a file is."""
    where, groups, notes = apply_overrides(
        mapping.path, {g: getattr(mapping, g) for g in MAPPING_GROUPS}, overrides, mapping.notes
    )
    new = dataclasses.replace(mapping, path=where, notes=notes, **groups)
    new.validate()
    return new
