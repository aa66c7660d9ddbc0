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
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from tqdm import tqdm

from pimsim.device import load_device_params, with_overrides
from pimsim.errors import PimsimError
from pimsim.io import write_atomic, write_text_atomic
from pimsim.mapper import GemmLayer, load_mapping, mapping_with_overrides
from pimsim.simulate.costs import family_costs

MAPPING_GROUPS = ("chip", "policy")


@dataclass
class SweepConfig:
    """Options of ``pimsim sweep`` (``axes``: ``{"chip.rows": [128, 256]}``)."""

    checkpoint: str | None = None
    cost_only: bool = False
    model: str | None = None
    input_size: int = 224
    num_classes: int = 1000
    widths: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    bits: list[int] = field(default_factory=lambda: [8])
    devices: list[str] = field(default_factory=lambda: ["sot_mram_45nm"])
    mapping: str = "default"
    axes: dict[str, list[Any]] = field(default_factory=dict)
    limit: int | None = None
    data_dir: str | None = None
    calib_batches: int = 4
    jobs: int = 1


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """``"chip.rows=128,256"`` -> ``("chip.rows", [128, 256])`` (values read as YAML scalars)."""
    key, sep, values = text.partition("=")
    if not sep or "." not in key or not values:
        raise PimsimError(f"--set: {text!r}: expected GROUP.KEY=V1,V2,...")
    parsed = [yaml.safe_load(v) for v in values.split(",")]
    if any(v is None or isinstance(v, list | dict) for v in parsed):
        raise PimsimError(f"--set: {text!r}: every value must be a number, true/false or a word")
    return key.strip(), parsed


def _split(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    mapping = {k: v for k, v in overrides.items() if k.split(".")[0] in MAPPING_GROUPS}
    device = {k: v for k, v in overrides.items() if k not in mapping}
    return mapping, device


@lru_cache(maxsize=256)
def _resolved(device: str, mapping: str, overrides: tuple[tuple[str, Any], ...]):
    m_over, d_over = _split(dict(overrides))
    params = load_device_params(device)
    chip = load_mapping(mapping)
    return (with_overrides(params, d_over) if d_over else params,
            mapping_with_overrides(chip, m_over) if m_over else chip)


def points(cfg: SweepConfig) -> list[tuple[int, str, tuple[tuple[str, Any], ...]]]:
    """Every (bits, device, overrides) point, in a fixed order."""
    keys = sorted(cfg.axes)
    combos = [tuple(zip(keys, values, strict=True))
              for values in product(*(cfg.axes[k] for k in keys))]
    return [(b, d, c) for b in cfg.bits for d in cfg.devices for c in combos]


def point_key(point: tuple[int, str, tuple]) -> str:
    """A stable file name for a point."""
    text = json.dumps([point[0], point[1], list(point[2])], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def validate(cfg: SweepConfig) -> None:
    """Check every axis value alone against the base files (one-line errors, nothing run)."""
    for b in cfg.bits:
        if b not in (8, 16):
            raise PimsimError(f"--bits: {b} is not 8 or 16")
    if not cfg.bits or not cfg.devices:
        raise PimsimError("--bits/--device-params: give at least one value")
    if cfg.jobs < 1:
        raise PimsimError(f"--jobs: must be >= 1, got {cfg.jobs}")
    for device in cfg.devices:
        _resolved(device, cfg.mapping, ())
        for key, values in cfg.axes.items():
            if not values:
                raise PimsimError(f"--set: {key}: no values")
            for v in values:
                try:
                    _resolved(device, cfg.mapping, ((key, v),))
                except PimsimError as exc:
                    raise PimsimError(f"--set {key}={v}: {exc}") from None


def _evaluate(point, family: dict[str, list[GemmLayer]], mapping: str,
              accuracy: dict[str, float] | None) -> pd.DataFrame:
    bits, device, overrides = point
    params, chip = _resolved(device, mapping, overrides)
    try:
        table, _ = family_costs(family, params, chip)
        table.insert(5, "infeasible", "")
    except PimsimError as exc:  # e.g. the family does not fit this chip: keep the point
        table = pd.DataFrame({"subnet": list(family), "bits": bits, "device": params.name,
                              "technology": params.technology, "mapping": chip.name,
                              "infeasible": str(exc)})
    for i, (key, value) in enumerate(overrides):
        table.insert(5 + i, key, value)
    if accuracy is not None:
        table.insert(3, "top1", table.subnet.map(accuracy))
    return table


def _families(cfg: SweepConfig) -> tuple[dict[int, dict], dict[int, dict[str, float]] | None]:
    """Per bits: the family's weight layers, and (with a checkpoint) top-1 per sub-net."""
    from pimsim.network import DynamicNet, SubnetSpec
    from pimsim.simulate.layers import layers_of_subnets

    if cfg.cost_only:
        if cfg.model is None:
            raise PimsimError("--model: required with --cost-only")
        specs = [SubnetSpec.uniform(w) for w in sorted(set(cfg.widths), reverse=True)]
        model = DynamicNet(cfg.model, cfg.num_classes, 3, specs)
        hw = (cfg.input_size, cfg.input_size)
        return {b: layers_of_subnets(model, hw, b) for b in cfg.bits}, None
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
    validate(cfg)
    out = Path(out_dir)
    stamp = json.dumps(asdict(cfg) | {"jobs": None}, sort_keys=True)
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
