"""``pimsim train``: validate, train with a method, and write the run folder.

Run folder: ``state.pt`` (resumable state, rewritten after every epoch), ``train_log.csv``
(per phase, epoch and sub-net: train loss, validation top-1 ``val_top1_float``, wall time),
``subnets.yaml`` (the trained specs), ``model.pt`` (the dynamic model; ``models/<name>.pt`` per
sub-net for ``individual``), ``results.csv`` (per sub-net: MACs, parameters, weight density,
test top-1 ``top1_float``, validation top-1 ``val_top1_float``, and training cost:
``train_steps`` (optimizer steps the sub-net took part in, one forward and backward pass each),
``train_samples``, ``train_forward_macs``) and ``cost.json`` (totals, per phase and per
sub-net, and ``method_notes``: what the method reports, e.g. multi-path's channel selection).
``results.csv`` is written last: its presence means the run is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from pimsim.data import Dataset, load_dataset
from pimsim.errors import PimsimError
from pimsim.io import child, write_atomic, write_text_atomic
from pimsim.network import DynamicNet, MacModel, SubnetSpec, save_specs, subnet_totals
from pimsim.train.checkpoint import save_checkpoint
from pimsim.train.config import TrainConfig
from pimsim.train.distributed import init_distributed
from pimsim.train.engine import STATE_FILE, Run
from pimsim.train.evaluate import top1
from pimsim.train.methods import METHODS, Trained

RESULTS_FILE = "results.csv"


def _check_targets(cfg: TrainConfig, data: Dataset) -> list:
    targets = cfg.targets()
    probe = DynamicNet(cfg.arch, data.num_classes, data.in_channels)
    for t in targets:
        if isinstance(t, SubnetSpec):
            t.resolve(probe.group_widths)
    return targets


def run_training(cfg: TrainConfig, out_dir: str | Path | None, resume: bool = False,
                 quiet: bool = False, stop_after_epochs: int | None = None) -> Trained:
    """Train as ``cfg`` says; returns ``[(model, specs), ...]``. Everything is validated
    before ``out_dir`` is created."""
    config = cfg.resolved()
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.input_size, cfg.num_classes).carve(
        cfg.validation, cfg.train_samples)
    targets = _check_targets(cfg, data)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and (out / STATE_FILE).exists() and not resume:
        raise PimsimError(f"--out: {out} holds a run already; pass --resume to continue it "
                          "or choose another directory")
    dist = init_distributed(cfg.device)
    run = Run(config, data, out, resume=resume, quiet=quiet, dist=dist,
              stop_after_epochs=stop_after_epochs)
    trained = METHODS[cfg.method](run, targets)
    for model, _ in trained:
        dist.check_replicas(model)
    if out is not None and dist.is_main:
        write_outputs(run, trained, out)
    dist.close()
    return trained


def weight_density(model: DynamicNet, spec: SubnetSpec) -> float:
    """Kept fraction of the sub-net's convolution/linear weights (1.0 when dense)."""
    masks = model.weight_masks(spec)
    kept = total = 0
    for name, layer in model.masked_layers().items():
        cin, cout = layer.sizes[model.index_of(spec)]
        n = cout * cin * layer.weight[0, 0].numel()
        total += n
        kept += int(masks[name][:cout, :cin].sum()) if name in masks else n
    return kept / total


def write_outputs(run: Run, trained: Trained, out: Path) -> None:
    data, cfg = run.data, run.config
    meta = {"train_config": cfg.to_dict()}
    rows, all_specs = [], []
    full_macs = None
    for model, specs in trained:
        model.cpu()
        totals = subnet_totals(model, data.image_hw).set_index("subnet")
        for spec in specs:
            model.set_subnet(spec)
            cost = {k: 0.0 for k in ("forward_passes", "samples", "forward_macs")}
            for per_subnet in run.cost.subnets.values():
                for key in cost:
                    cost[key] += per_subnet.get(spec.name, {}).get(key, 0.0)
            rows.append({"subnet": spec.name, "method": cfg.method,
                         "macs": int(totals.loc[spec.name, "macs"]),
                         "params": int(totals.loc[spec.name, "params"]),
                         "weight_density": weight_density(model, spec),
                         "top1_float": top1(model, data),
                         "val_top1_float": top1(model, data.validation)
                         if data.validation is not None else float("nan"),
                         "train_steps": int(cost["forward_passes"]),
                         "train_samples": int(cost["samples"]),
                         "train_forward_macs": int(cost["forward_macs"])})
            all_specs.append(spec)
        if full_macs is None:
            full_macs = MacModel(model, data.image_hw).macs(model.group_widths)
        if cfg.method == "individual":
            save_checkpoint(child(out / "models", specs[0].name, ".pt"), model, data.image_hw,
                            cfg.dataset, meta)
        else:
            save_checkpoint(out / "model.pt", model, data.image_hw, cfg.dataset, meta)
    totals = run.cost.totals()
    epoch_macs = float(full_macs) * len(data.train_y)
    cost = {"method": cfg.method, "threads": torch.get_num_threads(),
            **{k: totals.get(k, 0.0) for k in (
                "wall_s", "optimizer_steps", "forward_passes", "backward_passes", "samples",
                "forward_macs")},
            "full_model_epoch_macs": epoch_macs,
            "cost_in_full_model_epochs": totals.get("forward_macs", 0.0) / epoch_macs,
            "cost_vs_full_model_training": totals.get("forward_macs", 0.0)
            / (epoch_macs * cfg.epochs),
            **run.cost.to_dict(), "method_notes": run.notes}
    save_specs(out / "subnets.yaml", all_specs)
    write_text_atomic(out / "cost.json", json.dumps(cost, indent=2))
    log = pd.DataFrame(run.log)
    write_atomic(out / "train_log.csv", lambda p: log.to_csv(p, index=False))
    table = pd.DataFrame(rows)
    write_atomic(out / RESULTS_FILE, lambda p: table.to_csv(p, index=False))
