"""``pimsim faults``: accuracy of every sub-net on an imperfect chip, over variation points.

A *point* is one combination of the ``--set`` axes (device keys such as ``mtj.tmr_ratio`` or
``variation.sigma_rp``, mapping keys such as ``chip.rows``) and, with ``--error-probs``, one
injected error probability (every AND2 sense and activation write wrong with it, overriding the
device's variation model). Per point: the per-operation error probabilities
(:mod:`pimsim.device.variation`), the sub-nets' energy and latency on that chip, and per sub-net
the mean and spread over trials of faulty bit-exact top-1 and of the layer-output error rate
(:mod:`pimsim.simulate.faults`). Points are written to ``DIR/points/<key>.csv`` (resumable,
``DIR/.lock`` held, ``--jobs`` processes: the helpers of :mod:`pimsim.reports.sweep`) and
gathered in ``DIR/faults.csv`` (a point whose chip cannot sense the mapping's operations keeps
its rows, with the reason in ``infeasible``); ``faults.png``/``.svg`` plot top-1 against the
AND2 error probability per sub-net. Trial t of every point and sub-net uses seed ``seed + t``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pimsim.device import check_feasible
from pimsim.device.variation import FaultRates, fault_rates, op_error_probs
from pimsim.errors import PimsimError
from pimsim.executors import check_executor, open_executor
from pimsim.io import write_atomic, write_text_atomic
from pimsim.reports.sweep import folder_lock
from pimsim.simulate import family_costs, resolve_hardware
from pimsim.simulate.faults import SubnetCase, run_trial, subnet_cases
from pimsim.simulate.hardware import Overrides, check_each, file_sha256

ERROR_PROB = "error_prob"  # the column of an injected probability (absent: the device's model)
COST_COLUMNS = ("energy_per_image_uj", "latency_ns")
Point = tuple[Overrides, float | None]


@dataclass(frozen=True)
class FaultsConfig:
    """Options of ``pimsim faults``; ``axes``: ``{"variation.sigma_rp": [0.05, 0.1]}`` or
    pairs; ``error_probs``: injected probabilities (empty: the device's variation model)."""

    checkpoint: str
    subnets: tuple[str, ...] | None = None
    bits: int | None = None
    device_params: str = "sot_mram_45nm"
    mapping: str = "default"
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    error_probs: tuple[float, ...] = ()
    trials: int = 10
    seed: int = 0
    limit: int | None = None
    data_dir: str | None = None
    calib_batches: int = 4
    jobs: int = 1
    executor: str = "process"
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.subnets is not None:
            object.__setattr__(self, "subnets", tuple(self.subnets))
        pairs = self.axes.items() if isinstance(self.axes, Mapping) else self.axes
        object.__setattr__(self, "axes", tuple(sorted((k, tuple(v)) for k, v in pairs)))
        object.__setattr__(self, "error_probs", tuple(float(p) for p in self.error_probs))

    def validate(self) -> None:
        if self.trials < 1:
            raise PimsimError(f"--trials: must be >= 1, got {self.trials}")
        for p in self.error_probs:
            if not 0 <= p <= 1:
                raise PimsimError(f"--error-probs: {p:g} is not a probability in [0, 1]")
        check_each(self.device_params, self.mapping, dict(self.axes))
        check_executor(self.executor, self.jobs, self.scheduler)

    def points(self) -> list[Point]:
        keys = [k for k, _ in self.axes]
        combos = product(*[v for _, v in self.axes])
        probs: list[float | None] = list(self.error_probs) or [None]
        return [(tuple(zip(keys, c, strict=True)), p) for c, p in product(combos, probs)]


def _point_key(point: Point, identity: str) -> str:
    text = json.dumps([identity, list(point[0]), point[1]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def evaluate_point(point: Point, cases: list[SubnetCase], cfg: FaultsConfig) -> pd.DataFrame:
    """One point: a row per sub-net (top-level and picklable: a worker's task)."""
    overrides, error_prob = point
    params, chip = resolve_hardware(cfg.device_params, cfg.mapping, overrides)
    try:
        check_feasible(params, chip.sense_ops)
    except PimsimError as exc:  # keep the point: this chip cannot sense the mapping's ops
        return pd.DataFrame({"subnet": [c.name for c in cases], "technology": params.name,
                             **dict(overrides), "infeasible": str(exc)})
    rates = fault_rates(params) if error_prob is None else FaultRates.uniform(error_prob)
    ops = tuple(chip.sense_ops)
    p_err = ({f"p_err_{op}": error_prob for op in ops} if error_prob is not None
             else {f"p_err_{op}": p for op, p in op_error_probs(params, ops).items()})
    p_err["p_err_write"] = rates.write
    costs, _ = family_costs({c.name: list(c.layers) for c in cases}, params, chip)
    costs = costs.set_index("subnet")
    rows = []
    for case in cases:
        trials = [run_trial(case, rates, cfg.seed + t, chip.chip.rows, chip.chip.cols, params)
                  for t in range(cfg.trials)]
        images = len(case.labels)
        correct = np.rint(np.array([t.top1_pim for t in trials]) * images)  # exact counts
        top1 = correct / images
        errors = np.array([t.layer_error_rate for t in trials])
        rows.append({
            "subnet": case.name, "bits": case.graph.compute_layers()[0].weight_bits,
            "technology": params.name, **dict(overrides),
            **({ERROR_PROB: error_prob} if error_prob is not None else {}),
            **p_err, "trials": cfg.trials, "images": images,
            "top1_int": case.top1_int, "top1_pim_mean": float(correct.mean() / images),
            "top1_pim_std": float(correct.std(ddof=1) / images) if len(top1) > 1 else 0.0,
            "top1_pim_min": float(top1.min()),
            "layer_error_rate": float(errors.mean()),
            "sense_flip_rate": float(np.mean([t.sense_flip_rate for t in trials])),
            **{c: float(costs.loc[case.name, c]) for c in COST_COLUMNS}, "infeasible": "",
        })
    return pd.DataFrame(rows)


def _evaluate_task(args: tuple) -> pd.DataFrame:
    return evaluate_point(*args)


def run_faults(cfg: FaultsConfig, out_dir: str | Path, quiet: bool = True) -> pd.DataFrame:
    """Evaluate every point not done yet in ``out_dir``; write and return ``faults.csv`` and
    draw ``faults.png``/``.svg``."""
    cfg.validate()
    out = Path(out_dir)
    # where it runs is not part of the run: it resumes under any executor
    stamp = json.dumps(asdict(cfg) | {"jobs": None, "executor": None, "scheduler": None},
                       sort_keys=True, default=list)
    identity = stamp + file_sha256(cfg.checkpoint)
    files = {p: out / "points" / f"{_point_key(p, identity)}.csv" for p in cfg.points()}
    with folder_lock(out):
        saved = out / "faults.json"
        if saved.is_file() and saved.read_text() != stamp:
            raise PimsimError(f"--out: {out} holds a faults run with other settings; choose "
                              "another directory")
        todo = [p for p, path in files.items() if not path.exists()]
        (out / "points").mkdir(parents=True, exist_ok=True)
        write_text_atomic(saved, stamp)
        if todo:
            with ExitStack() as stack:
                parallel = cfg.jobs > 1 or cfg.executor != "process"
                pool = (stack.enter_context(open_executor(cfg.executor, cfg.jobs, cfg.scheduler))
                        if parallel and len(todo) > 1 else None)
                if pool is not None:  # fork every worker before this process starts numba's
                    pool.submit(int).result()  # OpenMP threads: a fork after them aborts
                cases = subnet_cases(cfg.checkpoint, cfg.bits, cfg.data_dir, cfg.calib_batches,
                                     cfg.limit, list(cfg.subnets) if cfg.subnets else None)

                def save(point: Point, table: pd.DataFrame) -> None:
                    write_atomic(files[point], lambda p: table.to_csv(p, index=False))
                    if not quiet:
                        print(f"point {dict(point[0])} {point[1]}: done", flush=True)

                if pool is None:
                    for p in todo:
                        save(p, evaluate_point(p, cases, cfg))
                else:
                    futures = [pool.submit(_evaluate_task, (p, cases, cfg)) for p in todo]
                    for p, future in zip(todo, futures, strict=True):
                        save(p, future.result())
        table = pd.concat([pd.read_csv(path) for path in files.values()], ignore_index=True)
        write_atomic(out / "faults.csv", lambda p: table.to_csv(p, index=False))
        plot_faults(table, out)
    return table


def plot_faults(table: pd.DataFrame, out: Path) -> list[Path]:
    """``faults.png``/``.svg``: mean top-1 (%, bars: one standard deviation over trials)
    against the AND2 error probability, one line per sub-net."""
    from pimsim.reports.plots import plt, save_figure

    x = ERROR_PROB if ERROR_PROB in table.columns else "p_err_and2"
    table = table.dropna(subset=[x, "top1_pim_mean"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, group in table.groupby("subnet", sort=False):
        g = group.sort_values(x)
        ax.errorbar(g[x], 100 * g.top1_pim_mean, yerr=100 * g.top1_pim_std, marker="o",
                    capsize=3, label=str(name))
    positive = table[x][table[x] > 0]
    if len(positive):
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    ax.set_xlabel("AND2 sense error probability" + (" (injected)" if x == ERROR_PROB else ""))
    ax.set_ylabel("top-1 on the faulty chip (%)")
    ax.grid(alpha=0.3)
    ax.legend(title="sub-net")
    return save_figure(fig, out, "faults")


def select_under_error_budget(table: pd.DataFrame, at: Mapping[str, Any], min_top1: float,
                              cost: str = "energy_per_image_uj") -> pd.Series:
    """The cheapest (``cost``) sub-net whose mean faulty top-1 at the point ``at`` (column ->
    value, e.g. ``{"variation.sigma_rp": 0.1}``) is at least ``min_top1`` (a fraction)."""
    rows = table
    if "infeasible" in table:
        rows = table[table.infeasible.isna() | (table.infeasible.astype(str) == "")]
    for key, value in at.items():
        if key not in rows.columns:
            raise PimsimError(f"faults table: no column {key!r} (its axes: "
                              f"{', '.join(c for c in table.columns if '.' in c) or 'none'})")
        rows = rows[np.isclose(rows[key].astype(float), float(value))]
    if rows.empty:
        raise PimsimError(f"faults table: no point with {dict(at)}")
    if rows.subnet.duplicated().any():
        raise PimsimError(f"faults table: {dict(at)} matches several points; give every axis")
    keep = rows[rows.top1_pim_mean >= min_top1]
    if keep.empty:
        best = rows.top1_pim_mean.max()
        raise PimsimError(f"error budget: no sub-net keeps top-1 >= {min_top1:g} at {dict(at)} "
                          f"(best {best:.4f})")
    return keep.sort_values([cost, "top1_pim_mean"], ascending=[True, False]).iloc[0]
