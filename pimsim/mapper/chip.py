"""Chip organisation and mapping policy, from ``mappings/*.yaml`` (validated, one-line errors).

Capacity: ``banks * mats_per_bank * subarrays_per_mat`` sub-arrays of ``rows x cols`` cells.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pimsim.errors import PimsimError
from pimsim.paramfile import build_group, load_yaml, locate

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"
DEFAULT_MAPPING = "default"
POLICY_CHOICES = {"execution": ("layer-by-layer", "pipelined"),
                  "weights": ("resident", "reload"),
                  "volatile_unused": ("keep-powered", "gate")}


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

    @property
    def subarrays(self) -> int:
        """banks * mats_per_bank * subarrays_per_mat."""
        return self.banks * self.mats_per_bank * self.subarrays_per_mat


@dataclass(frozen=True)
class MappingPolicy:
    execution: str = "layer-by-layer"
    weights: str = "resident"
    volatile_unused: str = "keep-powered"
    replicate: bool = False


@dataclass(frozen=True)
class ChipMapping:
    """A chip and a policy. ``notes`` maps ``chip.key`` to its source or assumption."""

    name: str
    path: str
    chip: ChipParams
    policy: MappingPolicy
    notes: tuple[tuple[str, str], ...] = ()

    def validate(self) -> None:
        for key, choices in POLICY_CHOICES.items():
            value = getattr(self.policy, key)
            if value not in choices:
                raise PimsimError(f"{self.path}: policy.{key}: must be one of "
                                  f"{', '.join(choices)}, got {value!r}")


def parse_mapping(raw: Any, where: str) -> ChipMapping:
    if not isinstance(raw, Mapping):
        raise PimsimError(f"{where}: top level: must be a mapping")
    for key in raw:
        if key not in ("name", "description", "chip", "policy"):
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
    """A copy with ``{"chip.rows": 128, "policy.execution": "pipelined"}`` applied, validated."""
    where = f"{mapping.path} (override)"
    groups: dict[str, Any] = {"chip": mapping.chip, "policy": mapping.policy}
    notes = dict(mapping.notes)
    for dotted, value in overrides.items():
        group, _, key = dotted.partition(".")
        if group not in groups:
            raise PimsimError(f"{where}: {dotted}: unknown group {group!r}; use chip or policy")
        known = {f.name for f in dataclasses.fields(groups[group])}
        if key not in known:
            raise PimsimError(f"{where}: {dotted}: unknown key (a typo?)")
        groups[group] = dataclasses.replace(groups[group], **{key: value})
        notes[dotted] = f"override: {value!r}"
    raw_chip = {k: {"value": v, "assumption": "x"}
                for k, v in dataclasses.asdict(groups["chip"]).items()}
    build_group(where, "chip", ChipParams, raw_chip, None)  # re-validate the values
    build_group(where, "policy", MappingPolicy, dataclasses.asdict(groups["policy"]), None,
                cited=False)
    new = dataclasses.replace(mapping, path=where, chip=groups["chip"], policy=groups["policy"],
                              notes=tuple(sorted(notes.items())))
    new.validate()
    return new
