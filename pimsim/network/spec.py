"""Sub-net specifications: a uniform width ratio or one channel count per channel group.

A *channel group* is a set of layer outputs that must keep the same channel count in every
sub-net (layers tied by a residual addition form one group). A spec with ``ratio`` r gives
each group of full width W the count ``max(1, floor(r * W + 0.5))``; a spec with ``counts``
lists one count per group, in the model's group order (see ``DynamicNet.group_names``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pimsim.errors import PimsimError
from pimsim.io import write_text_atomic
from pimsim.paramfile import load_yaml, short, show

NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
MAX_NAME_LEN = 64


def check_name(name: object, field: str = "name") -> str:
    """``name`` if it is safe as a file name (sub-net names become ``<name>.pt``/``.npz``):
    1 to ``MAX_NAME_LEN`` letters, digits, ``.``, ``_`` or ``-``, and not ``.`` or ``..``;
    otherwise a one-line error naming ``field``."""
    if (not isinstance(name, str) or not NAME_CHARS.fullmatch(name) or name in (".", "..")
            or len(name) > MAX_NAME_LEN):
        raise PimsimError(f"{field}: must be 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or "
                          f"'-' (it names files), and not '.' or '..'; got {show(name)}")
    return name


@dataclass(frozen=True)
class SubnetSpec:
    """One sub-net: exactly one of ``ratio`` (in (0, 1]) or ``counts`` (each >= 1); ``name`` is
    safe as a file name (:func:`check_name`)."""

    name: str
    ratio: float | None = None
    counts: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "sub-net spec: name")
        where = f"sub-net {self.name!r}"
        if (self.ratio is None) == (self.counts is None):
            raise PimsimError(f"{where}: give exactly one of 'ratio' or 'counts'")
        if self.ratio is not None:
            if isinstance(self.ratio, bool) or not isinstance(self.ratio, int | float):
                raise PimsimError(f"{where}: ratio: must be a number, got {show(self.ratio)}")
            if not 0 < self.ratio <= 1:
                raise PimsimError(f"{where}: ratio: must lie in (0, 1], got {show(self.ratio)}")
            object.__setattr__(self, "ratio", float(self.ratio))
        else:
            counts = tuple(self.counts)  # type: ignore[arg-type]
            for i, c in enumerate(counts):
                if isinstance(c, bool) or not isinstance(c, int):
                    raise PimsimError(f"{where}: counts[{i}]: must be an integer, got {show(c)}")
                if c < 1:
                    raise PimsimError(f"{where}: counts[{i}]: must be >= 1, got {show(c)}")
            if not counts:
                raise PimsimError(f"{where}: counts: must not be empty")
            object.__setattr__(self, "counts", counts)

    @classmethod
    def uniform(cls, ratio: float, name: str | None = None) -> SubnetSpec:
        """A uniform sub-net named after its ratio, e.g. ``w0.25``."""
        return cls(name=name or f"w{ratio:g}", ratio=ratio)

    def resolve(self, widths: Sequence[int]) -> tuple[int, ...]:
        """Channel count per group for a model whose groups have full ``widths``."""
        if self.ratio is not None:
            return tuple(max(1, math.floor(self.ratio * w + 0.5)) for w in widths)
        counts = self.counts or ()
        if len(counts) != len(widths):
            raise PimsimError(
                f"sub-net {self.name!r}: counts: expected {len(widths)} channel counts "
                f"(one per channel group), got {len(counts)}"
            )
        for i, (c, w) in enumerate(zip(counts, widths, strict=True)):
            if c > w:
                raise PimsimError(
                    f"sub-net {self.name!r}: counts[{i}]: {show(c)} exceeds the group's width {w}"
                )
        return counts

    def to_dict(self) -> dict:
        if self.ratio is not None:
            return {"name": self.name, "ratio": self.ratio}
        return {"name": self.name, "counts": list(self.counts or ())}

    @classmethod
    def from_dict(cls, data: object, where: str = "sub-net spec") -> SubnetSpec:
        if not isinstance(data, dict):
            raise PimsimError(f"{where}: must be a mapping with 'name' and 'ratio' or 'counts'")
        unknown = set(data) - {"name", "ratio", "counts"}
        if unknown:
            raise PimsimError(f"{where}: unknown key {short(min(map(str, unknown)))!r}")
        if "name" not in data:
            raise PimsimError(f"{where}: missing key 'name'")
        counts = data.get("counts")
        if counts is not None and not isinstance(counts, list | tuple):
            raise PimsimError(f"{where}: counts: must be a list of integers")
        try:
            return cls(
                name=data["name"],
                ratio=data.get("ratio"),
                counts=tuple(counts) if counts is not None else None,
            )
        except PimsimError as exc:
            raise PimsimError(f"{where}: {exc}") from None


def parse_widths(text: str) -> list[SubnetSpec]:
    """Uniform specs from a comma list such as ``"0.25,0.5,1.0"``."""
    specs = []
    for item in text.split(","):
        try:
            ratio = float(item)
        except ValueError:
            raise PimsimError(f"--widths: {item!r} is not a number") from None
        try:
            specs.append(SubnetSpec.uniform(ratio))
        except PimsimError as exc:
            raise PimsimError(f"--widths: {exc}") from None
    return specs


def save_specs(path: str | Path, specs: Iterable[SubnetSpec]) -> None:
    """Write specs as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
    path = Path(path)
    data = {"subnets": [s.to_dict() for s in specs]}
    if path.suffix in (".yaml", ".yml"):
        write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))
    else:
        write_text_atomic(path, json.dumps(data, indent=2))


def load_specs(path: str | Path) -> list[SubnetSpec]:
    """Read specs written by :func:`save_specs` (a ``subnets:`` list), YAML or JSON."""
    path = Path(path)
    data = load_yaml(path, str(path))  # JSON is a subset of YAML
    if not isinstance(data, dict) or "subnets" not in data:
        raise PimsimError(f"{path}: missing key 'subnets'")
    if not isinstance(data["subnets"], list) or not data["subnets"]:
        raise PimsimError(f"{path}: subnets: must be a non-empty list")
    specs = [
        SubnetSpec.from_dict(item, where=f"{path}: subnets[{i}]")
        for i, item in enumerate(data["subnets"])
    ]
    names = [s.name for s in specs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise PimsimError(f"{path}: subnets: duplicate name {dup!r}")
    return specs
