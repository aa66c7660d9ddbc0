"""``run_adapt``: every method on every domain from one checkpoint's sub-net; ``adapt.csv``.

The backbone is a checkpoint's sub-net exported as a plain model (``DynamicNet.export_subnet``);
each (domain, method) trains a fresh copy (DA3 at its own learning rate, ``TrainSettings.da3_lr``),
kept with the record :mod:`pimsim.adapt.saved` writes. ``memory_ratio_vs_finetune`` is fine-tuning's
saved-tensor bytes over the method's, on the same domain and batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from pimsim.adapt.loop import TrainSettings, train_domain
from pimsim.adapt.methods import (
    METHODS,
    build_adapted,
    check_methods,
    da3_units,
    domain_storage,
)
from pimsim.adapt.methods import trainable_params as count_trainable
from pimsim.adapt.modules import DA3Design
from pimsim.adapt.saved import adapted_path, save_adapted
from pimsim.data import Dataset, dataset_of_checkpoint
from pimsim.data.domains import make_domain
from pimsim.data.folder import load_folder
from pimsim.errors import PimsimError
from pimsim.io import file_sha256
from pimsim.network.spec import check_name
from pimsim.train import load_checkpoint


@dataclass(frozen=True)
class AdaptConfig:
    """``domains``: built-in domain names (:mod:`pimsim.data.domains`) or ``NAME=PATH`` (a data
    set on disk, :mod:`pimsim.data.folder`); ``subnet``: the checkpoint's sub-net to adapt
    (default its first); ``design``: DA3's (:class:`pimsim.adapt.modules.DA3Design`)."""

    checkpoint: str
    domains: tuple[str, ...]
    methods: tuple[str, ...] = METHODS
    subnet: str | None = None
    data_dir: str | None = None
    train: TrainSettings = field(default_factory=TrainSettings)
    design: DA3Design = field(default_factory=DA3Design)


@dataclass(frozen=True)
class AdaptResult:
    """``table``: one row per (domain, method); ``active_channels``: per domain, DA3's mean
    active channels per gated layer; ``backbone`` and ``input_shape`` for costing it;
    ``models``: per (domain, method), the adapted model and its record
    (:func:`pimsim.adapt.saved.save_adapted`)."""

    table: pd.DataFrame
    active_channels: dict[str, dict[str, float]]
    backbone: nn.Module
    input_shape: tuple[int, int, int]
    models: dict[tuple[str, str], tuple[nn.Module, dict[str, Any]]] = field(
        default_factory=dict)


def load_backbone(path: str, subnet: str | None) -> tuple[nn.Module, str, dict]:
    """The checkpoint's sub-net ``subnet`` as a plain eval-mode model, its name, the
    checkpoint's fields (with ``counts``: the sub-net's channel counts); one-line errors."""
    model, meta = load_checkpoint(path)
    if meta.get("bits") is not None:
        raise PimsimError(f"{path}: bits: a quantization-aware checkpoint; adapt a float one")
    name = subnet or model.subnets[0].name
    try:
        model.index_of(name)
    except PimsimError as exc:
        raise PimsimError(f"{path}: --subnet: {exc}") from None
    return model.export_subnet(name).eval(), name, {**meta, "counts": list(model.counts(name))}


def load_domains(specs: tuple[str, ...], base: Dataset, seed: int) -> dict[str, Dataset]:
    """Each ``--domains`` entry as a data set shaped like ``base``, by domain name."""
    if not specs:
        raise PimsimError("--domains: give at least one domain")
    out: dict[str, Dataset] = {}
    for spec in specs:
        if "=" in spec:
            name, path = spec.split("=", 1)
            check_name(name, "--domains: NAME")
            data = load_folder(path, base.in_channels, base.image_hw[0], name=name, seed=seed)
        else:
            name, data = spec, make_domain(spec, base, seed)
        if name in out:
            raise PimsimError(f"--domains: {name!r} given twice")
        out[name] = data
    return out


def run_adapt(cfg: AdaptConfig) -> AdaptResult:
    """Train every method of ``cfg`` on every domain; see the module docstring."""
    check_methods(list(cfg.methods))
    backbone, subnet, meta = load_backbone(cfg.checkpoint, cfg.subnet)
    base = dataset_of_checkpoint(meta, cfg.data_dir)
    domains = load_domains(cfg.domains, base, cfg.train.seed)
    source = {"source_sha256": file_sha256(cfg.checkpoint), "arch": meta["arch"],
              "in_channels": base.in_channels, "input_hw": list(base.image_hw),
              "dataset": meta.get("dataset"), "backbone_classes": meta["num_classes"],
              "subnet": subnet, "counts": meta["counts"]}
    rows, active, models = [], {}, {}
    for dname, data in domains.items():
        for method in cfg.methods:
            design = cfg.design if method == "da3" else None
            model = build_adapted(backbone, method, data.num_classes, cfg.train.seed, design)
            trainable = count_trainable(model)
            values, size = domain_storage(model)
            settings = (dataclasses.replace(cfg.train, lr=cfg.train.da3_lr)
                        if method == "da3" else cfg.train)
            run = train_domain(model, data, settings)
            if run.active_channels:
                active[dname] = run.active_channels
            gated_total = sum(run.active_channels.values())
            channels = sum(u.channels for u in da3_units(model).values())
            models[dname, method] = (model.cpu(), {
                **source, "domain": dname, "method": method, "num_classes": data.num_classes,
                "design": design.to_dict() if design else None,
                "active_channels": dict(run.active_channels), "top1_float": run.top1_float,
                "top1_float_gated": run.top1_float_gated})
            rows.append({
                "domain": dname, "method": method, "subnet": subnet,
                "top1_float": run.top1_float, "top1_float_gated": run.top1_float_gated,
                "trainable_params": trainable, "params_per_domain": values,
                "domain_storage_bytes": size, "saved_tensor_bytes": run.saved_tensor_bytes,
                "peak_cuda_bytes": run.peak_cuda_bytes, "epoch_s": run.epoch_s,
                "epochs": cfg.train.epochs, "batch_size": cfg.train.batch_size,
                "lr": settings.lr, "compute_device": cfg.train.compute_device,
                "active_channel_fraction": gated_total / channels if channels else None,
            })
    table = pd.DataFrame(rows)
    if "finetune" in cfg.methods:
        ft = table[table.method == "finetune"].set_index("domain")["saved_tensor_bytes"]
        table["memory_ratio_vs_finetune"] = table["domain"].map(ft) / table["saved_tensor_bytes"]
    shape = (base.in_channels, *base.image_hw)
    return AdaptResult(table, active, backbone, shape, models)


def write_adapt(out: str | Path, table: pd.DataFrame,
                models: dict[tuple[str, str], tuple[nn.Module, dict[str, Any]]] | None = None
                ) -> Path:
    """``adapt.csv``, ``adapt_memory.png`` (accuracy against training memory) and each
    adapted model as ``models/DOMAIN/METHOD.pt`` (:mod:`pimsim.adapt.saved`) into ``out``
    (atomically: :func:`pimsim.io.publish_dir`)."""
    from pimsim.adapt.plot import plot_memory_accuracy
    from pimsim.io import publish_dir

    def build(tmp: Path) -> None:
        table.to_csv(tmp / "adapt.csv", index=False)
        plot_memory_accuracy(table, tmp / "adapt_memory.png")
        for (domain, method), (model, record) in (models or {}).items():
            path = adapted_path(tmp, domain, method)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_adapted(path, model, record)

    return publish_dir(out, build)
