"""``pimsim sweep``: the cross product of precisions, devices and parameter overrides.

A *point* is one (bits, device file, overrides) combination; it yields one row per sub-net in
``DIR/sweep.csv`` (a point the chip cannot hold keeps its rows, with the reason in
``infeasible`` and no costs). Overrides name a mapping key (``chip.rows=128,256``,
``policy.execution=...``) or a device key (``mtj.tmr_ratio=0.9,1.5``,
``circuit.shift_adder_energy_pj=...``). Each finished point is written atomically to
``DIR/points/<key>.csv`` and ``sweep.csv`` is assembled from them, so an interrupted sweep,
rerun, skips finished points and never duplicates rows. With a
checkpoint, accuracy per (sub-net, bits) comes from the integer executor, which the simulator
proves equal to bit-serial PIM inference (``pimsim simulate``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from pimsim.errors import PimsimError
from pimsim.io import write_atomic, write_text_atomic
from pimsim.mapper import GemmLayer
from pimsim.simulate import cost_only_family, family_costs, resolve_hardware
from pimsim.simulate.hardware import Overrides, check_each

Axes = tuple[tuple[str, tuple[Any, ...]], ...]
Point = tuple[int, str, Overrides]


@dataclass(frozen=True)
class SweepConfig:
    """Options of ``pimsim sweep``; ``axes``: ``{"chip.rows": [128, 256]}`` or pairs (kept
    sorted by key). Lists become tuples."""

    checkpoint: str | None = None
    cost_only: bool = False
    model: str | None = None
    input_size: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    widths: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    bits: tuple[int, ...] = (8,)
    devices: tuple[str, ...] = ("sot_mram_45nm",)
    mapping: str = "default"
    axes: Axes = ()
    limit: int | None = None
    data_dir: str | None = None
    calib_batches: int = 4
    jobs: int = 1

    def __post_init__(self) -> None:
        for name in ("widths", "bits", "devices"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        axes: Mapping[str, Iterable[Any]] | Iterable[tuple[str, Iterable[Any]]] = self.axes
        pairs = axes.items() if isinstance(axes, Mapping) else axes
        object.__setattr__(self, "axes", tuple(sorted((k, tuple(v)) for k, v in pairs)))

    def validate(self) -> None:
        """Check the options and every axis value alone against the base files (one-line
        errors, nothing run)."""
        for b in self.bits:
            if b not in (8, 16):
                raise PimsimError(f"--bits: {b} is not 8 or 16")
        if not self.bits or not self.devices:
            raise PimsimError("--bits/--device-params: give at least one value")
        if self.jobs < 1:
            raise PimsimError(f"--jobs: must be >= 1, got {self.jobs}")
        for key, values in self.axes:
            if not values:
                raise PimsimError(f"--set: {key}: no values")
        for device in self.devices:
            check_each(device, self.mapping, dict(self.axes))

    def to_dict(self) -> dict[str, Any]:
        """The options as ``sweep.json`` stores them (lists, axes as a mapping)."""
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return data | {"axes": {k: list(v) for k, v in self.axes}}


def points(cfg: SweepConfig) -> list[Point]:
    """Every (bits, device, overrides) point, in a fixed order."""
    keys = [k for k, _ in cfg.axes]
    combos = [tuple(zip(keys, values, strict=True))
              for values in product(*(v for _, v in cfg.axes))]
    return [(b, d, c) for b in cfg.bits for d in cfg.devices for c in combos]


def point_key(point: Point) -> str:
    """A stable file name for a point."""
    text = json.dumps([point[0], point[1], list(point[2])], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _evaluate(point, family: dict[str, list[GemmLayer]], mapping: str,
              accuracy: dict[str, float] | None) -> pd.DataFrame:
    bits, device, overrides = point
    names = {"device": device, "technology": "", "mapping": mapping}
    try:
        params, chip = resolve_hardware(device, mapping, overrides)
        names = {"device": params.name, "technology": params.technology, "mapping": chip.name}
        table, _ = family_costs(family, params, chip)
        table.insert(5, "infeasible", "")
    except PimsimError as exc:  # keep the point: the family does not fit this chip, the device
        # cannot sense the mapping's operations, or these values are invalid only together
        table = pd.DataFrame({"subnet": list(family), "bits": bits, **names,
                              "infeasible": str(exc)})
    for i, (key, value) in enumerate(overrides):
        table.insert(5 + i, key, value)
    if accuracy is not None:
        table.insert(3, "top1", table.subnet.map(accuracy))
    return table


def _families(cfg: SweepConfig) -> tuple[dict[int, dict], dict[int, dict[str, float]] | None]:
    """Per bits: the family's weight layers, and (with a checkpoint) top-1 per sub-net."""
    if cfg.cost_only:
        if cfg.model is None:
            raise PimsimError("--model: required with --cost-only")
        return {b: cost_only_family(cfg.model, cfg.widths, cfg.input_size, cfg.in_channels,
                                    cfg.num_classes, b) for b in cfg.bits}, None
    if cfg.checkpoint is None:
        raise PimsimError("--checkpoint: required unless --cost-only")
    from pimsim.simulate.quantized import quantized_family

    families, accuracy = {}, {}
    for b in cfg.bits:
        families[b], accuracy[b] = quantized_family(cfg.checkpoint, b, cfg.data_dir,
                                                    cfg.calib_batches, cfg.limit)
    return families, accuracy


def run_sweep(cfg: SweepConfig, out_dir: str | Path, quiet: bool = False) -> pd.DataFrame:
    """Evaluate every point not done yet in ``out_dir``; returns the whole ``sweep.csv``."""
    cfg.validate()
    out = Path(out_dir)
    stamp = json.dumps(cfg.to_dict() | {"jobs": None}, sort_keys=True)
    saved = out / "sweep.json"
    if saved.exists() and saved.read_text() != stamp:
        raise PimsimError(f"--out: {out} holds a sweep with other settings; choose another "
                          "directory")
    families, accuracy = _families(cfg)
    todo = [p for p in points(cfg) if not (out / "points" / f"{point_key(p)}.csv").exists()]
    (out / "points").mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved, stamp)
    bar = tqdm(total=len(points(cfg)), initial=len(points(cfg)) - len(todo), desc="sweep",
               disable=quiet)

    def save(point, table: pd.DataFrame) -> None:
        write_atomic(out / "points" / f"{point_key(point)}.csv",
                     lambda p: table.to_csv(p, index=False))
        bar.update()

    args = [(p, families[p[0]], cfg.mapping, accuracy[p[0]] if accuracy else None)
            for p in todo]
    if cfg.jobs == 1 or len(args) <= 1:
        for a in args:
            save(a[0], _evaluate(*a))
    else:
        with ProcessPoolExecutor(cfg.jobs) as pool:
            columns = [list(c) for c in zip(*args, strict=True)]
            for a, table in zip(args, pool.map(_evaluate, *columns, chunksize=8), strict=True):
                save(a[0], table)
    bar.close()
    table = pd.concat([pd.read_csv(out / "points" / f"{point_key(p)}.csv")
                       for p in points(cfg)], ignore_index=True)
    write_atomic(out / "sweep.csv", lambda p: table.to_csv(p, index=False))
    return table
