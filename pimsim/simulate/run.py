"""``pimsim simulate``: every sub-net of a model on the simulated chip: accuracy and costs.

With a checkpoint, each sub-net is quantized (its QAT ranges, or post-training calibration at
``bits``), exported as an integer graph, mapped as one family (nested sub-arrays), costed, and
run bit-exactly through the bit-serial sub-array model on the test set (``top1_pim``), which is
checked equal, prediction by prediction, to the integer executor (``top1_int``). Cost-only mode
needs no weights: an untrained family of uniform widths of ``model`` at ``input_size``.
Outputs (``DIR``): ``subnets.csv``, ``layers.csv``, ``summary.md``, ``config.json``; the folder is
written complete or not at all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pimsim import __version__
from pimsim.device import DeviceParams, load_device_params
from pimsim.errors import PimsimError
from pimsim.mapper import ChipMapping, GemmLayer, load_mapping
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.simulate.costs import family_costs
from pimsim.simulate.layers import layers_from_graph, layers_of_subnets
from pimsim.simulate.pim_execute import check_events, run_pim

DEFAULT_WIDTHS = [0.25, 0.5, 0.75, 1.0]


@dataclass
class SimulateConfig:
    """Options of ``pimsim simulate`` (same names)."""

    checkpoint: str | None = None
    subnets: list[str] | None = None
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
    widths: list[float] = field(default_factory=lambda: list(DEFAULT_WIDTHS))


@dataclass
class Simulation:
    """The results: one row per sub-net, one row per layer per sub-net, and the inputs."""

    subnets: pd.DataFrame
    layers: pd.DataFrame
    config: dict


REPO_ROOT = Path(__file__).resolve().parents[2]


def _file_info(path: str) -> dict[str, str]:
    """Path and SHA-256 of an input file (preset paths are relative to the project root)."""
    file = Path(path) if Path(path).is_file() else REPO_ROOT / path
    return {"path": str(path), "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}


def simulate(cfg: SimulateConfig, params: DeviceParams | None = None,
             mapping: ChipMapping | None = None) -> Simulation:
    """Run ``cfg`` (``params``/``mapping`` override the files named in it)."""
    params = params or load_device_params(cfg.device_params)
    mapping = mapping or load_mapping(cfg.mapping)
    if cfg.cost_only:
        family, accuracy = _cost_only_family(cfg), {}
    else:
        if cfg.checkpoint is None:
            raise PimsimError("--checkpoint: required unless --cost-only")
        family, accuracy = _checkpoint_family(cfg, params, mapping)
    subnets, layers = family_costs(family, params, mapping)
    if accuracy:
        for key in ("top1_int", "top1_pim", "images"):
            subnets[key] = subnets.subnet.map(lambda n, k=key: accuracy[n][k])
    config = {"pimsim_version": __version__, "options": asdict(cfg),
              "device_params": {"name": params.name, "path": params.path},
              "mapping": {"name": mapping.name, "path": mapping.path},
              "subnets": {n: [asdict(layer) for layer in ls] for n, ls in family.items()}}
    for key, path in (("device_params", params.path), ("mapping", mapping.path)):
        if "(override)" not in path:
            config[key]["sha256"] = _file_info(path)["sha256"]
    if cfg.checkpoint:
        config["checkpoint"] = _file_info(cfg.checkpoint)
    return Simulation(subnets, layers, config)


def _select(model: DynamicNet, names: list[str] | None) -> list[SubnetSpec]:
    if not names or names == ["all"]:
        return model.subnets
    return [model.subnets[model.index_of(n)] for n in names]


def _cost_only_family(cfg: SimulateConfig) -> dict[str, list[GemmLayer]]:
    if cfg.model is None:
        raise PimsimError("--model: required with --cost-only")
    specs = [SubnetSpec.uniform(w) for w in sorted(set(cfg.widths), reverse=True)]
    model = DynamicNet(cfg.model, cfg.num_classes, cfg.in_channels, specs)
    family = layers_of_subnets(model, (cfg.input_size, cfg.input_size), cfg.bits or 8)
    keep = {s.name for s in _select(model, cfg.subnets)}
    return {n: ls for n, ls in family.items() if n in keep}


def _checkpoint_family(cfg: SimulateConfig, params: DeviceParams, mapping: ChipMapping):
    from pimsim.quantize import export_subnet_int
    from pimsim.simulate.quantized import load_quantized

    model, data = load_quantized(cfg.checkpoint, cfg.bits, cfg.data_dir, cfg.calib_batches)
    specs = _select(model, cfg.subnets)
    n = len(data.test_y) if cfg.limit is None else min(cfg.limit, len(data.test_y))
    images, labels = data.test_x[:n].numpy(), data.test_y[:n].numpy()
    family, accuracy = {}, {}
    chip = mapping.chip
    for spec in specs:
        graph = export_subnet_int(model, spec, data.image_hw)
        layers = layers_from_graph(graph)
        x = graph.quantize_input(images)
        ref = graph.run_int(x)
        out, events = run_pim(graph, x, chip.rows, chip.cols, params)
        if not np.array_equal(out, ref):
            raise RuntimeError(f"{spec.name}: bit-serial PIM output differs from the integer "
                               "executor's (a pimsim bug; please report it)")
        check_events(graph, layers, events, n, chip.rows, chip.cols)
        family[spec.name] = layers
        accuracy[spec.name] = {"top1_int": float((ref.argmax(1) == labels).mean()),
                               "top1_pim": float((out.argmax(1) == labels).mean()),
                               "images": n}
    return family, accuracy


OUTPUTS = ("subnets.csv", "layers.csv", "config.json", "summary.md")


def write_simulation(sim: Simulation, out_dir: str | Path) -> Path:
    """Write ``subnets.csv``, ``layers.csv``, ``summary.md`` and ``config.json`` into
    ``out_dir``: all four are built in a temporary folder beside it, then each is renamed into
    place, so a failure leaves no partial file and no new folder."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        sim.subnets.to_csv(tmp / "subnets.csv", index=False)
        sim.layers.to_csv(tmp / "layers.csv", index=False)
        (tmp / "config.json").write_text(json.dumps(sim.config, indent=2, sort_keys=True))
        (tmp / "summary.md").write_text(summary_markdown(sim))
        out.mkdir(exist_ok=True)
        for name in OUTPUTS:
            (tmp / name).replace(out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


SUMMARY_COLUMNS = {"subnet": "sub-net", "bits": "bits", "macs": "MACs",
                   "top1_pim": "top-1 (PIM)", "energy_per_image_uj": "energy/image (uJ)",
                   "latency_ns": "latency (ns)", "fps": "fps", "tops_per_w": "TOPS/W",
                   "power_mw": "power (mW)", "weight_bits": "weights (bit)",
                   "subarrays": "sub-arrays", "utilization": "utilization",
                   "area_mm2": "area (mm^2)"}


def summary_markdown(sim: Simulation) -> str:
    """A short human-readable report of a simulation."""
    s = sim.subnets
    cols = [c for c in SUMMARY_COLUMNS if c in s.columns]
    table = s[cols].rename(columns=SUMMARY_COLUMNS)
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join("| " + " | ".join(_fmt(v) for v in row) + " |\n"
                   for row in table.itertuples(index=False))
    cfg = sim.config
    lines = [
        "# pimsim simulation", "",
        f"Device: `{cfg['device_params']['name']}` ({cfg['device_params']['path']}); "
        f"mapping: `{cfg['mapping']['name']}` ({cfg['mapping']['path']}); "
        f"pimsim {cfg['pimsim_version']}.", "",
        header + body,
        f"Chip area for the whole family: {s.family_area_mm2.iloc[0]:.3f} mm^2. "
        f"Switching sub-nets: {s.switch_policy.iloc[0]}.", "",
        "Energy is the sum of these events (formulas in `pimsim/device/events.py` and "
        "`pimsim/mapper/cost.py`; per-layer figures in `layers.csv`), in uJ per image:", "",
        _energy_by_event(s),
        "The model is uncalibrated against silicon; parameters marked `assumption:` in the "
        "device file are not published figures.",
    ]
    if "top1_pim" in s.columns:
        lines += ["", f"Accuracy on the first {int(s.images.iloc[0])} test images, bit-serial "
                  "PIM inference (equal to the integer executor, prediction by prediction)."]
    return "\n".join(lines) + "\n"


def _energy_by_event(s: pd.DataFrame) -> str:
    """Markdown table: one row per event kind of the events table, one column per sub-net."""
    from pimsim.mapper.cost import EVENTS, energy_column

    header = "| event | counts | " + " | ".join(s.subnet) + " |\n|" + "---|" * (2 + len(s)) + "\n"
    body = "".join(f"| {kind.label} | {kind.counts} | "
                   + " | ".join(_fmt(v * 1e-6) for v in s[energy_column(kind)]) + " |\n"
                   for kind in EVENTS)
    return header + body


def _fmt(v: object) -> str:
    if isinstance(v, float | np.floating):
        return f"{v:.4g}"
    return str(v)
