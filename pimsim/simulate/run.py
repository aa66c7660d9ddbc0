"""``pimsim simulate``: every sub-net of a model on the simulated chip: accuracy and costs.

With a checkpoint, each sub-net is quantized (its QAT ranges, or post-training calibration at
``bits``), exported as an integer graph, mapped as one family (nested sub-arrays), costed, and
run bit-exactly through the bit-serial sub-array model on the test set (``top1_pim``) in batches
of ``batch_size`` (memory independent of the number of images), on the first ``CHECK_SAMPLE``
images (every image with ``check_all``: ``top1_int``) checked equal, prediction by prediction,
to the integer executor; sub-nets and shards of images run on ``executor``. Cost-only mode
needs no weights: an untrained family of uniform widths of ``model`` at ``input_size``.
Outputs (``DIR``): ``subnets.csv``, ``layers.csv``, ``summary.md``, ``config.json`` (and
``gating.csv`` with ``adapted``); the folder is written complete or not at all.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pimsim import __version__
from pimsim.data import Dataset
from pimsim.device import DeviceParams, check_feasible
from pimsim.errors import PimsimError
from pimsim.executors import check_executor, open_executor
from pimsim.io import publish_dir
from pimsim.mapper import ChipMapping, GemmLayer
from pimsim.mapper.cost import EVENTS, energy_column
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.progress import Progress, note
from pimsim.quantize import IntGraph
from pimsim.simulate.costs import family_costs
from pimsim.simulate.hardware import (
    Overrides,
    as_overrides,
    check_each,
    file_sha256,
    hardware_record,
    resolve_hardware,
)
from pimsim.simulate.layers import layers_from_graph, layers_of_subnets
from pimsim.simulate.pim_execute import check_events
from pimsim.simulate.provenance import checkpoint_network, provenance
from pimsim.simulate.stream import ShardResult, run_shard, shard_ranges

DEFAULT_WIDTHS = (0.25, 0.5, 0.75, 1.0)
BATCH_SIZE = 64  # images per batch: bounds the layer outputs held at once
CHECK_SAMPLE = 1000  # images also run on the integer executor unless ``check_all``
SHARD_IMAGES = 500  # images per task when sub-nets run on an executor


@dataclass(frozen=True)
class SimulateConfig:
    """Options of ``pimsim simulate`` (same names); ``overrides``: ``{"chip.rows": 128}`` or
    pairs, applied to the device and mapping files (``--set``). Lists become tuples."""

    checkpoint: str | None = None
    subnets: tuple[str, ...] | None = None
    bits: int | None = None
    device_params: str = "sot_mram_45nm"
    mapping: str = "default"
    limit: int | None = None
    data_dir: str | None = None
    calib_batches: int = 4
    cost_only: bool = False
    model: str | None = None
    input_size: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    widths: tuple[float, ...] = DEFAULT_WIDTHS
    overrides: Overrides = ()
    batch_size: int = BATCH_SIZE
    check_all: bool = False
    executor: str = "process"
    jobs: int = 1
    scheduler: str | None = None
    adapted: str | None = None

    def __post_init__(self) -> None:
        if self.subnets is not None:
            object.__setattr__(self, "subnets", tuple(self.subnets))
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "overrides", as_overrides(self.overrides))

    def validate(self) -> None:
        if self.bits not in (None, 8, 16):
            raise PimsimError(f"--bits: {self.bits} is not 8 or 16")
        if self.cost_only and self.model is None:
            raise PimsimError("--model: required with --cost-only")
        if not self.cost_only and self.checkpoint is None:
            raise PimsimError("--checkpoint: required unless --cost-only")
        if self.adapted is not None and (self.cost_only or self.checkpoint is None):
            raise PimsimError("--adapted: needs --checkpoint (the adapted models' source)")
        for w in self.widths:
            if not 0 < w <= 1:
                raise PimsimError(f"--widths: {w:g} is outside (0, 1]")
        check_executor(self.executor, self.jobs, self.scheduler)
        for name in ("input_size", "in_channels", "num_classes", "calib_batches", "limit",
                     "batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise PimsimError(f"--{name.replace('_', '-')}: must be an integer >= 1, "
                                  f"got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The options as ``config.json`` stores them (lists, overrides as a mapping)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()} | {
            "overrides": dict(self.overrides)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulateConfig:
        """Inverse of :meth:`to_dict` (e.g. ``config.json``'s ``options``)."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise PimsimError(f"options: {key}: unknown key")
        return cls(**data)


@dataclass(frozen=True)
class Simulation:
    """The results: one row per sub-net, one row per layer per sub-net, and the inputs."""

    subnets: pd.DataFrame
    layers: pd.DataFrame
    config: dict
    gating: pd.DataFrame | None = None  # --adapted: DA3's gating per domain


def simulate(cfg: SimulateConfig, argv: Sequence[str] | None = None) -> Simulation:
    """Run ``cfg``; ``config`` of the result records everything needed to repeat it (with
    copies of the device and mapping files) and what produced it (``argv``: the command line,
    when a command ran; versions; git commit)."""
    cfg.validate()
    check_each(cfg.device_params, cfg.mapping, {k: [v] for k, v in cfg.overrides})
    params, mapping = resolve_hardware(cfg.device_params, cfg.mapping, cfg.overrides)
    check_feasible(params, mapping.sense_ops)  # before a checkpoint is loaded and exported
    gating = None
    if cfg.adapted is not None:
        from pimsim.simulate.gating import adapted_gating

        gating = adapted_gating(cfg.checkpoint, cfg.adapted, cfg.bits or 8, params, mapping)
    if cfg.cost_only:
        family = cost_only_family(cfg.model, cfg.widths, cfg.input_size, cfg.in_channels,
                                  cfg.num_classes, cfg.bits or 8, cfg.subnets)
        graphs, data, network = {}, None, _cost_only_network(cfg)
    else:
        note(f"simulate: quantizing and exporting the sub-nets of {cfg.checkpoint}")
        graphs, data, meta = _export(cfg)
        network = checkpoint_network(meta)
        family = {name: layers_from_graph(graph) for name, graph in graphs.items()}
    note(f"simulate: costing {len(family)} sub-nets on {params.name}, mapping {mapping.name}")
    subnets, layers = family_costs(family, params, mapping)  # a chip too small stops here
    if graphs:
        accuracy = _run_images(cfg, graphs, family, data, params, mapping)
        for key in ("top1_int", "top1_pim", "images", "images_checked"):
            subnets[key] = subnets.subnet.map(lambda n, k=key: accuracy[n][k])
    chip = mapping.chip
    config = {"pimsim_version": __version__, "options": cfg.to_dict(),
              "provenance": provenance(argv), "network": network,
              "chip": {"banks": chip.banks, "mats_per_bank": chip.mats_per_bank,
                       "subarrays_per_mat": chip.subarrays_per_mat, "subarrays": chip.subarrays,
                       "rows": chip.rows, "cols": chip.cols},
              **hardware_record(cfg.device_params, cfg.mapping, cfg.overrides),
              "subnets": {n: [asdict(layer) for layer in ls] for n, ls in family.items()}}
    if cfg.checkpoint:
        config["checkpoint"] = {"path": str(cfg.checkpoint),
                                "sha256": file_sha256(cfg.checkpoint)}
    return Simulation(subnets, layers, config, gating)


def _cost_only_network(cfg: SimulateConfig) -> dict[str, Any]:
    """What a cost-only run costs: an untrained family (the keys of
    :func:`~pimsim.simulate.provenance.checkpoint_network`)."""
    return {"model": cfg.model, "dataset": None, "input_size": f"{cfg.input_size}x"
            f"{cfg.input_size}", "num_classes": cfg.num_classes, "method": None,
            "bits": cfg.bits or 8}


def _select(model: DynamicNet, names: Iterable[str] | None) -> list[SubnetSpec]:
    names = list(names or [])
    if not names or names == ["all"]:
        return model.subnets
    return [model.subnets[model.index_of(n)] for n in names]


def cost_only_family(arch: str, widths: Iterable[float], input_size: int, in_channels: int,
                     num_classes: int, bits: int, subnets: Iterable[str] | None = None
                     ) -> dict[str, list[GemmLayer]]:
    """The weight layers of an untrained ``arch`` family of uniform ``widths`` at
    ``input_size`` (no weights, no accuracy: for cost-only runs); ``subnets``: names to keep
    (default all)."""
    specs = [SubnetSpec.uniform(w) for w in sorted(set(widths), reverse=True)]
    model = DynamicNet(arch, num_classes, in_channels, specs)
    family = layers_of_subnets(model, (input_size, input_size), bits)
    keep = {s.name for s in _select(model, subnets)}
    return {n: ls for n, ls in family.items() if n in keep}


def _export(cfg: SimulateConfig) -> tuple[dict[str, IntGraph], Dataset, dict]:
    """Each selected sub-net of the checkpoint quantized and exported as an integer graph,
    the test data and the checkpoint's metadata."""
    from pimsim.quantize import export_subnet_int
    from pimsim.simulate.quantized import load_quantized

    model, data, meta = load_quantized(cfg.checkpoint, cfg.bits, cfg.data_dir,
                                       cfg.calib_batches)
    graphs = {spec.name: export_subnet_int(model, spec, data.image_hw)
              for spec in _select(model, cfg.subnets)}
    return graphs, data, meta


def _run_images(cfg: SimulateConfig, graphs: dict[str, IntGraph],
                family: dict[str, list[GemmLayer]], data: Dataset, params: DeviceParams,
                mapping: ChipMapping) -> dict[str, dict[str, float]]:
    """Each sub-net's accuracy: every image through the bit-serial sub-arrays in batches
    (:mod:`pimsim.simulate.stream`), the first ``CHECK_SAMPLE`` (all with ``check_all``) also
    through the integer executor; the events summed over the images must equal the closed
    form (:func:`check_events`)."""
    n = data.test_count(cfg.limit)
    check = n if cfg.check_all else min(n, CHECK_SAMPLE)
    chip = mapping.chip
    inline = cfg.executor == "process" and cfg.jobs == 1
    shards = shard_ranges(n, n if inline else SHARD_IMAGES)
    bar = Progress(n * len(graphs), "simulate", unit="image")

    def task(name: str, r: range) -> tuple:
        return (graphs[name], data.test_x[r.start:r.stop].numpy(),
                data.test_y[r.start:r.stop].numpy(), chip.rows, chip.cols, params,
                cfg.batch_size, max(0, min(check, r.stop) - r.start))

    totals = dict.fromkeys(graphs, ShardResult())
    if inline:
        for name in graphs:
            totals[name] = run_shard(*task(name, shards[0]), progress=bar.update)
    else:
        with open_executor(cfg.executor, cfg.jobs, cfg.scheduler, start_method="spawn") as pool:
            futures = {pool.submit(run_shard, *task(name, r)): (name, len(r))
                       for name in graphs for r in shards}
            for future in as_completed(futures):
                name, size = futures[future]
                totals[name] = totals[name] + future.result()
                bar.update(size)
    bar.close()
    accuracy = {}
    for name, graph in graphs.items():
        result = totals[name]
        check_events(graph, family[name], result.events, n, chip.rows, chip.cols)
        accuracy[name] = {"top1_int": result.correct_int / n if result.checked == n
                          else float("nan"),
                          "top1_pim": result.correct_pim / n, "images": n,
                          "images_checked": result.checked}
    return accuracy


def write_simulation(sim: Simulation, out_dir: str | Path) -> Path:
    """Write ``subnets.csv``, ``layers.csv``, ``summary.md`` and ``config.json`` into
    ``out_dir``: all four are built in a temporary folder beside it, then moved into place
    (:func:`pimsim.io.publish_dir`), so a failure leaves no partial file and no new folder."""

    def build(tmp: Path) -> None:
        sim.subnets.to_csv(tmp / "subnets.csv", index=False)
        sim.layers.to_csv(tmp / "layers.csv", index=False)
        (tmp / "config.json").write_text(json.dumps(sim.config, indent=2, sort_keys=True))
        (tmp / "summary.md").write_text(summary_markdown(sim))
        if sim.gating is not None:
            sim.gating.to_csv(tmp / "gating.csv", index=False)

    return publish_dir(out_dir, build)


SUMMARY_COLUMNS = {"subnet": "sub-net", "bits": "bits", "macs": "MACs",
                   "top1_pim": "top-1 (PIM, %)", "energy_per_image_uj": "energy/image (uJ)",
                   "latency_ns": "latency", "fps": "fps", "tops_per_w": "TOPS/W",
                   "power_mw": "power (mW)", "weight_bits": "weights",
                   "subarrays": "sub-arrays", "utilization": "utilization (%)",
                   "compute_utilization": "compute utilization (%)", "area_mm2": "area (mm^2)"}
PERCENT_COLUMNS = ("top1_pim", "utilization", "compute_utilization")  # fractions, shown in %
# columns shown in the largest unit their largest value reaches: (factor, unit), largest first
SCALED_COLUMNS = {"macs": ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")),
                  "latency_ns": ((1e9, "s"), (1e6, "ms"), (1e3, "us"), (1, "ns")),
                  "weight_bits": ((8 * 2**20, "MiB"), (8 * 2**10, "KiB"), (8, "B"))}


def summary_markdown(sim: Simulation) -> str:
    """A report of a simulation that stands alone: what ran (network, data set, input size,
    method, checkpoint, chip geometry, device, mapping, command, versions), a table per sub-net
    in human units, and the energy by event."""
    s = sim.subnets
    table = _human_table(s)
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join("| " + " | ".join(_fmt(v) for v in row) + " |\n"
                   for row in table.itertuples(index=False))
    cfg = sim.config
    lines = [
        "# pimsim simulation", "",
        _network_line(cfg, int(s.bits.iloc[0])), "",
        _chip_line(cfg), "",
        _provenance_line(cfg), "",
        header + body,
        f"Area: the whole family's sub-arrays {s.family_area_mm2.iloc[0]:.3f} mm^2; the chip "
        f"(every sub-array, periphery and activation buffer) {s.chip_area_mm2.iloc[0]:.3f} "
        f"mm^2. Switching sub-nets: {s.switch_policy.iloc[0]}.", "",
        "Latency per image against its bounds (`latency_bound_ns`: the sub-net's sub-array "
        "steps spread over every sub-array of the chip; `layerwise_bound_ns`: the best "
        "layer-by-layer split) and `compute_utilization` are in `subnets.csv`.", "",
        "Energy is the sum of these events (formulas in `pimsim/device/events.py` and "
        "`pimsim/mapper/cost.py`; per-layer figures in `layers.csv`), in uJ per image:", "",
        _energy_by_event(s),
        "The model is uncalibrated against silicon; parameters marked `assumption:` in the "
        "device file are not published figures.",
    ]
    if sim.gating is not None:
        g = sim.gating
        lines += ["", f"DA3 gating (`--adapted`, `gating.csv`): {len(g)} domains, "
                  f"{100 * (g.energy_saved_pj / g.energy_pj).mean():.1f} % of the energy and "
                  f"{100 * (g.latency_saved_ns / g.latency_ns).mean():.1f} % of the latency "
                  "per image saved on average."]
    if "top1_pim" in s.columns:
        checked = int(s.images_checked.iloc[0])
        lines += ["", f"Accuracy on the first {int(s.images.iloc[0])} test images, bit-serial "
                  "PIM inference, equal to the integer executor prediction by prediction on "
                  + ("every image." if checked == int(s.images.iloc[0]) else
                     f"the first {checked} (checked; `--check-all` checks every image).")]
    return "\n".join(lines) + "\n"


def _human_table(s: pd.DataFrame) -> pd.DataFrame:
    """The summary's columns of ``s``: fractions in %, large counts in a unit that fits."""
    cols = [c for c in SUMMARY_COLUMNS if c in s.columns]
    table = s[cols].copy()
    names = {c: SUMMARY_COLUMNS[c] for c in cols}
    for col in cols:
        if col in PERCENT_COLUMNS:
            table[col] = 100 * table[col]
        elif col in SCALED_COLUMNS:
            largest = float(table[col].max())
            factor, unit = next(((f, u) for f, u in SCALED_COLUMNS[col] if largest >= f),
                                SCALED_COLUMNS[col][-1])
            table[col] = table[col] / factor
            names[col] = f"{names[col]} ({unit})" if unit else names[col]
    return table.rename(columns=names)


def _network_line(cfg: dict[str, Any], bits: int) -> str:
    net = cfg["network"]
    if net["dataset"] is None:
        what = (f"an untrained `{net['model']}` family (cost only, no accuracy), input "
                f"{net['input_size']} pixels, {net['num_classes']} classes")
    else:
        method = f", trained with `{net['method']}`" if net["method"] else ""
        what = (f"`{net['model']}` on `{net['dataset']}`{method}, input {net['input_size']} "
                f"pixels, {net['num_classes']} classes; checkpoint `{cfg['checkpoint']['path']}` "
                f"(SHA-256 {cfg['checkpoint']['sha256'][:12]})")
    return f"Network: {what}; {bits}-bit integer inference."


def _chip_line(cfg: dict[str, Any]) -> str:
    chip, dev, mapping = cfg["chip"], cfg["device_params"], cfg["mapping"]
    overrides = {**dev["overrides"], **mapping["overrides"]}
    changed = ("; overridden: " + ", ".join(f"`{k}={v}`" for k, v in sorted(overrides.items()))
               if overrides else "")
    return (f"Chip: {chip['banks']} banks x {chip['mats_per_bank']} mats x "
            f"{chip['subarrays_per_mat']} sub-arrays = {chip['subarrays']:,} sub-arrays of "
            f"{chip['rows']} x {chip['cols']} cells. Device: `{dev['name']}` ({dev['path']}); "
            f"mapping: `{mapping['name']}` ({mapping['path']}){changed}.")


def _provenance_line(cfg: dict[str, Any]) -> str:
    prov = cfg["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if v is not None)
    commit = (f"; git commit {prov['git_commit'][:12]}"
              f"{' (with uncommitted changes)' if prov['git_dirty'] else ''}"
              if prov["git_commit"] else "")
    command = f"Command: `{shlex.join(prov['argv'])}`. " if prov["argv"] else ""
    return f"{command}Versions: {versions}{commit}. Repeat with `pimsim simulate --config " \
        "config.json --out DIR`."


def _energy_by_event(s: pd.DataFrame) -> str:
    """Markdown table: one row per event kind of the events table, one column per sub-net."""
    header = "| event | counts | " + " | ".join(s.subnet) + " |\n|" + "---|" * (2 + len(s)) + "\n"
    body = "".join(f"| {kind.label} | {kind.counts} | "
                   + " | ".join(_fmt(v * 1e-6) for v in s[energy_column(kind)]) + " |\n"
                   for kind in EVENTS)
    return header + body


def _fmt(v: object) -> str:
    """Four significant digits; thousands separators instead of an exponent from 10,000."""
    if isinstance(v, float | np.floating):
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
    return str(v)
