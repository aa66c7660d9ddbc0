"""``pimsim sweep``: the cross product of precisions, devices and parameter overrides.

A *point* is one (bits, device file, overrides) combination; it yields one row per sub-net in
``DIR/sweep.csv`` (a point the chip cannot hold keeps its rows, with the reason in
``infeasible`` and no costs). Overrides name a mapping key (``chip.rows=128,256``,
``policy.execution=...``) or a device key (``mtj.tmr_ratio=0.9,1.5``,
``circuit.shift_adder_energy_pj=...``). Each finished point is written atomically to
``DIR/points/<key>.csv`` and ``sweep.csv`` is assembled from them, so an interrupted sweep,
rerun, skips finished points and never duplicates rows. The key hashes everything that defines
the point (model, input size, channels, classes, widths, checkpoint and file SHA-256s,
accuracy settings, bits, device, mapping, overrides), so a folder never mixes two sweeps'
rows; a sweep holds ``DIR/.lock`` (``flock``) while it runs, so a second one started into the
same folder stops with a one-line error. Points run in chunks on ``--jobs`` local worker
processes that die with the sweep, or on a Dask cluster (``--executor dask``, ``--scheduler``;
:mod:`pimsim.executors`); the rows do not depend on where they ran, and a sweep interrupted
under one executor resumes under another. With a checkpoint, accuracy per (sub-net, bits)
comes from the integer executor, which the simulator proves equal to bit-serial PIM inference
(``pimsim simulate``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd

from pimsim.errors import PimsimError
from pimsim.executors import check_executor, open_executor
from pimsim.io import write_atomic, write_text_atomic
from pimsim.mapper import GemmLayer
from pimsim.progress import Progress
from pimsim.simulate import cost_only_family, family_costs, resolve_hardware
from pimsim.simulate.hardware import Overrides, check_each, file_sha256

LOCK = ".lock"
CHUNK = 8  # points per task of a worker (their family is sent once per task)
RUN_ONLY = ("jobs", "executor", "scheduler")  # where it runs: not part of the sweep's identity

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
    executor: str = "process"
    scheduler: str | None = None

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
        check_executor(self.executor, self.jobs, self.scheduler)
        for key, values in self.axes:
            if not values:
                raise PimsimError(f"--set: {key}: no values")
        for device in self.devices:
            check_each(device, self.mapping, dict(self.axes))
        _refuse_duplicates("--bits", self.bits)
        _refuse_duplicates("--device-params", self.devices,
                           [Path(resolve_hardware(d, self.mapping)[0].path).resolve()
                            for d in self.devices])
        for key, values in self.axes:
            _refuse_duplicates(f"--set {key}", values)

    def to_dict(self) -> dict[str, Any]:
        """The options as ``sweep.json`` stores them (lists, axes as a mapping)."""
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return data | {"axes": {k: list(v) for k, v in self.axes}}


def _refuse_duplicates(option: str, values: Iterable[Any],
                       same: Iterable[Any] | None = None) -> None:
    """One-line error when two ``values`` are equal (or name the same thing, ``same``): a
    repeated axis value would only repeat rows."""
    values = list(values)
    seen: dict[Any, Any] = {}
    for value, key in zip(values, values if same is None else same, strict=True):
        if key in seen:
            also = "" if seen[key] == value else f" (as {seen[key]})"
            raise PimsimError(f"{option}: {value} given twice{also}; give each value once")
        seen[key] = value


def points(cfg: SweepConfig) -> list[Point]:
    """Every (bits, device, overrides) point, in a fixed order."""
    keys = [k for k, _ in cfg.axes]
    combos = [tuple(zip(keys, values, strict=True))
              for values in product(*(v for _, v in cfg.axes))]
    return [(b, d, c) for b in cfg.bits for d in cfg.devices for c in combos]


def sweep_identity(cfg: SweepConfig) -> dict[str, Any]:
    """What defines every point of ``cfg`` besides (bits, device, overrides): the family
    (model, input size, channels, classes, widths, or the checkpoint's SHA-256), the accuracy
    settings, and the SHA-256 of the mapping file and of every device file."""
    family = ({"checkpoint_sha256": file_sha256(cfg.checkpoint), "limit": cfg.limit,
               "data_dir": cfg.data_dir, "calib_batches": cfg.calib_batches}
              if not cfg.cost_only else
              {"model": cfg.model, "input_size": cfg.input_size, "in_channels": cfg.in_channels,
               "num_classes": cfg.num_classes, "widths": sorted(set(cfg.widths))})
    files = {d: resolve_hardware(d, cfg.mapping) for d in cfg.devices}
    return family | {"mapping": cfg.mapping,
                     "mapping_sha256": file_sha256(files[cfg.devices[0]][1].path),
                     "device_sha256": {d: file_sha256(p.path) for d, (p, _) in files.items()}}


def point_key(point: Point, identity: Mapping[str, Any]) -> str:
    """The file name of a point: SHA-256 of the point (bits, device name and file SHA-256,
    overrides) and what else defines it (``identity`` but its other devices)."""
    bits, device, overrides = point
    shared = {k: v for k, v in identity.items() if k != "device_sha256"}
    text = json.dumps([shared, bits, device, identity["device_sha256"][device],
                       list(overrides)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder/.lock`` (created with the folder); released
    when the block ends or the process dies. Held elsewhere: a one-line error."""
    folder.mkdir(parents=True, exist_ok=True)  # an OSError: the caller's --out policy
    with open(folder / LOCK, "a") as handle:  # held for the whole block
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PimsimError(f"--out: {folder}: another sweep is running there (it holds "
                              f"{folder / LOCK}); wait for it or choose another folder"
                              ) from None
        yield


def _evaluate(point, family: dict[str, list[GemmLayer]], mapping: str,
              accuracy: dict[str, float] | None) -> pd.DataFrame:
    bits, device, overrides = point
    names = {"technology": device, "memory_type": "", "mapping": mapping}
    try:
        params, chip = resolve_hardware(device, mapping, overrides)
        names = {"technology": params.name, "memory_type": params.technology,
                 "mapping": chip.name}
        table, _ = family_costs(family, params, chip)
        table.insert(5, "infeasible", "")
    except PimsimError as exc:  # keep the point: the family does not fit this chip, the device
        # cannot sense the mapping's operations, or these values are invalid only together
        table = pd.DataFrame({"subnet": list(family), "bits": bits, **names,
                              "infeasible": str(exc)})
    for i, (key, value) in enumerate(overrides):
        table.insert(5 + i, key, value)
    if accuracy is not None:
        table.insert(3, "top1_int", table.subnet.map(accuracy))
    return table


def _evaluate_all(args: list[tuple]) -> list[pd.DataFrame]:
    """:func:`_evaluate` of a chunk of points (one task of a worker)."""
    return [_evaluate(*a) for a in args]


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
    stamp = json.dumps(cfg.to_dict() | dict.fromkeys(RUN_ONLY), sort_keys=True)
    _check_stamp(out, stamp)
    families, accuracy = _families(cfg)
    identity = sweep_identity(cfg)
    files = {p: out / "points" / f"{point_key(p, identity)}.csv" for p in points(cfg)}
    with folder_lock(out):
        _check_stamp(out, stamp)  # again, holding the lock: another sweep may have just ended
        todo = [p for p, path in files.items() if not path.exists()]
        (out / "points").mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "sweep.json", stamp)
        bar = Progress(len(files), "sweep", initial=len(files) - len(todo), unit="point",
                       enabled=not quiet)

        def save(point, table: pd.DataFrame) -> None:
            write_atomic(files[point], lambda p: table.to_csv(p, index=False))
            bar.update()

        args = [(p, families[p[0]], cfg.mapping, accuracy[p[0]] if accuracy else None)
                for p in todo]
        if cfg.executor == "process" and (cfg.jobs == 1 or len(args) <= 1):
            for a in args:
                save(a[0], _evaluate(*a))
        elif args:
            chunks = [args[i:i + CHUNK] for i in range(0, len(args), CHUNK)]
            with open_executor(cfg.executor, cfg.jobs, cfg.scheduler) as pool:
                # not ``pool.map``: its cleanup cancels pending work, which races the pool's
                # own failing of that work when the workers are stopped (an error in 3.11)
                futures = [pool.submit(_evaluate_all, chunk) for chunk in chunks]
                for chunk, future in zip(chunks, futures, strict=True):
                    for a, table in zip(chunk, future.result(), strict=True):
                        save(a[0], table)
        bar.close()
        table = pd.concat([pd.read_csv(path) for path in files.values()], ignore_index=True)
        write_atomic(out / "sweep.csv", lambda p: table.to_csv(p, index=False))
    return table


def _check_stamp(out: Path, stamp: str) -> None:
    saved = out / "sweep.json"
    if saved.is_file() and saved.read_text() != stamp:
        raise PimsimError(f"--out: {out} holds a sweep with other settings; choose another "
                          "directory")
