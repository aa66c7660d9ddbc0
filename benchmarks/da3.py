"""DA3 against the adaptation baselines on digits domains, resnet20 backbone.

Run: ``.venv/bin/python benchmarks/da3.py [--quick] [--ablation]``. It trains a resnet20 on
the source domain (the digits; ``uniform`` method, full width only), then adapts it with
every method (da3, finetune, last-layer, parallel-adapter, series-adapter, piggyback)
to each of the domains rotate, flip, invert, noise and blur (``--epochs`` each, batch 64) and
reports per domain and method: test top-1 (DA3 also with gating), trainable parameters, the
bytes autograd saves for one training step (training activation memory) and their ratio to
fine-tuning's, the time per epoch, and DA3's gated-chip energy saving (sot_mram_45nm, 8 bit).
Adam at learning rate 1e-3 for the baselines, 2e-2 for DA3 (``TrainSettings.da3_lr``).
DA3 runs twice: with the paper's loss, and with pimsim's optional gate penalty
(``GATE_PENALTY``), which pushes channels to be gated at inference.
Writes ``reports/benchmarks/da3.csv`` and ``reports/benchmarks/da3.md`` (the README table).

``--ablation``: instead, DA3's design choices (:class:`pimsim.adapt.DA3Design`, learning rate)
one at a time from the first design (``ABLATION``), on the same domains and settings; writes
``reports/benchmarks/da3_ablation.csv`` and ``.md``.

``--quick``: backbone 3 epochs, 4 domains, 1 adaptation epoch on 256 training images (a few
minutes on 2 busy cores). The full run (backbone 15 epochs, 5 domains x 6 methods x 10 epochs
on 1,347 images) is estimated from the quick run's times and printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import pandas as pd

from pimsim.adapt import (
    AdaptConfig,
    DA3Design,
    TrainSettings,
    build_adapted,
    load_backbone,
    run_adapt,
    saved_tensor_bytes,
)
from pimsim.data import dataset_of_checkpoint
from pimsim.io import write_atomic, write_text_atomic
from pimsim.simulate.gating import cost_adapted
from pimsim.train import TrainConfig, run_training

OUT = Path(__file__).resolve().parents[1] / "reports" / "benchmarks"
DOMAINS = ("rotate", "flip", "invert", "noise", "blur")
FULL = {"backbone_epochs": 15, "domains": DOMAINS, "epochs": 10, "train_limit": None}
QUICK = {"backbone_epochs": 3, "domains": DOMAINS[:4], "epochs": 1, "train_limit": 256}
TRAIN_IMAGES = 1347  # the digits training split
GATE_PENALTY = 0.1
_FIRST = DA3Design(spatial="none", stem=False, bn_stats=False, bn_bias=False)
ABLATION: tuple[tuple[str, DA3Design, float], ...] = (  # (variant, design, DA3 learning rate)
    ("first design: channel attention on block conv1, source BN", _FIRST, 1e-3),
    ("same, learning rate 2e-2", _FIRST, 2e-2),
    ("+ BN statistics per domain", dataclasses.replace(_FIRST, bn_stats=True), 2e-2),
    ("+ BN bias trained", dataclasses.replace(_FIRST, bn_stats=True, bn_bias=True), 2e-2),
    ("+ stem unit (the default)", DA3Design(spatial="none"), 2e-2),
    ("+ spatial attention, a_c + s_hw", DA3Design(spatial="sum"), 2e-2),
    ("+ spatial attention, a_c * s_hw", DA3Design(spatial="product"), 2e-2),
    ("+ units on each block's conv2", DA3Design(spatial="none", conv2=True), 2e-2),
    ("+ BN gain trained", DA3Design(spatial="none", bn_gain=True), 2e-2),
)


def markdown(table: pd.DataFrame) -> str:
    """Per method: mean top-1 over the domains (and per domain), memory, ratio, time."""
    per_domain = table.pivot(index="method", columns="domain", values="top1_float")
    agg = table.groupby("method", sort=False).agg(
        top1=("top1_float", "mean"), trainable=("trainable_params", "first"),
        saved=("saved_tensor_bytes", "first"), ratio=("memory_ratio_vs_finetune", "first"),
        epoch_s=("epoch_s", "mean"), stored=("domain_storage_bytes", "first"))
    domains = list(per_domain.columns)
    head = ("| method | " + " | ".join(domains) + " | mean top-1 | trainable params | "
            "saved tensors (KiB, batch 64) | memory vs finetune | s / epoch | "
            "stored per domain (KiB) |")
    lines = [head, "|" + "---|" * (len(domains) + 7)]
    for method, row in agg.iterrows():
        accs = " | ".join(f"{100 * per_domain.loc[method, d]:.1f}" for d in domains)
        lines.append(f"| {method} | {accs} | {100 * row.top1:.1f} | {int(row.trainable):,} | "
                     f"{row.saved / 1024:,.0f} | {row.ratio:.1f}x | {row.epoch_s:.2f} | "
                     f"{row.stored / 1024:,.1f} |")
    lines.append("")
    for method, da3 in table[table.method.str.startswith("da3")].groupby("method", sort=False):
        saved = (da3.energy_saved_pj / da3.energy_pj).mean()
        lines.append(f"- {method}, gating on: top-1 {100 * da3.top1_float_gated.mean():.1f} % "
                     f"(mean over domains), {100 * da3.active_channel_fraction.mean():.0f} % of "
                     f"the gated channels active, {100 * saved:.1f} % of the energy per image "
                     "saved on the chip.")
    return "\n".join(lines) + "\n"


def ablation_markdown(table: pd.DataFrame, finetune_bytes: int) -> str:
    """Per DA3 variant: mean top-1, invert, rotate, saved-tensor KiB and the ratio to
    fine-tuning's."""
    lines = ["| DA3 variant | lr | mean top-1 | invert | rotate | saved tensors (KiB, batch 64) "
             "| memory vs finetune |", "|---|---|---|---|---|---|---|"]
    for variant, rows in table.groupby("variant", sort=False):
        acc = rows.set_index("domain")["top1_float"]
        saved = int(rows.saved_tensor_bytes.iloc[0])
        cells = [f"{100 * acc[d]:.1f}" if d in acc else "-" for d in ("invert", "rotate")]
        lines.append(f"| {variant} | {rows.lr.iloc[0]:g} | {100 * acc.mean():.1f} | "
                     f"{' | '.join(cells)} | {saved / 1024:,.0f} | "
                     f"{finetune_bytes / saved:.1f}x |")
    return "\n".join(lines) + "\n"


def run_ablation(cfg: AdaptConfig) -> tuple[pd.DataFrame, int]:
    """Every :data:`ABLATION` variant on ``cfg``'s domains; fine-tuning's saved bytes."""
    tables = []
    for variant, design, lr in ABLATION:
        table = run_adapt(dataclasses.replace(
            cfg, methods=("da3",), design=design,
            train=dataclasses.replace(cfg.train, da3_lr=lr))).table
        table.insert(0, "variant", variant)
        tables.append(table)
        print(f"{variant}: mean top-1 {100 * table.top1_float.mean():.1f} %", flush=True)
    backbone, _, meta = load_backbone(cfg.checkpoint, None)
    data = dataset_of_checkpoint(meta, None)
    n = cfg.train.batch_size
    x, y = data.train_x[:n].clone(), data.train_y[:n].clone()  # as train_domain measures
    finetune = saved_tensor_bytes(build_adapted(backbone, "finetune", data.num_classes), x, y)
    return pd.concat(tables, ignore_index=True), finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (see docstring)")
    parser.add_argument("--ablation", action="store_true",
                        help="DA3's design choices one at a time (see docstring)")
    args = parser.parse_args()
    run = QUICK if args.quick else FULL
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_training(TrainConfig(method="uniform", widths=(1.0,),
                                 epochs=run["backbone_epochs"]), Path(tmp), quiet=True)
        backbone_s = time.perf_counter() - start
        cfg = AdaptConfig(checkpoint=str(Path(tmp) / "model.pt"), domains=run["domains"],
                          train=TrainSettings(epochs=run["epochs"],
                                              train_limit=run["train_limit"]))
        if args.ablation:
            ablation, finetune_bytes = run_ablation(cfg)
        else:
            table = cost_adapted(run_adapt(cfg))
            gated = cost_adapted(run_adapt(dataclasses.replace(
                cfg, methods=("da3",),
                train=dataclasses.replace(cfg.train, gate_penalty=GATE_PENALTY))))
    name = "da3_quick" if args.quick else "da3"
    if args.ablation:
        write_atomic(OUT / f"{name}_ablation.csv", lambda p: ablation.to_csv(p, index=False))
        text = ablation_markdown(ablation, finetune_bytes)
        write_text_atomic(OUT / f"{name}_ablation.md", text)
        print(text)
        print(f"ablation: {(time.perf_counter() - start) / 60:.1f} min; written "
              f"{OUT / name}_ablation.csv and .md")
        return
    gated["method"] = f"da3, gate penalty {GATE_PENALTY:g}"
    finetune = table[table.method == "finetune"].set_index("domain")["saved_tensor_bytes"]
    gated["memory_ratio_vs_finetune"] = gated.domain.map(finetune) / gated.saved_tensor_bytes
    table = pd.concat([table, gated], ignore_index=True)
    total_s = time.perf_counter() - start
    write_atomic(OUT / f"{name}.csv", lambda p: table.to_csv(p, index=False))
    text = markdown(table)
    write_text_atomic(OUT / f"{name}.md", text)
    print(text)
    if args.quick:  # training time scales with images x epochs; the backbone with epochs
        scale = (FULL["epochs"] * TRAIN_IMAGES) / (QUICK["epochs"] * QUICK["train_limit"])
        adapt_s = table.epoch_s.sum() * run["epochs"]
        estimate = (backbone_s * FULL["backbone_epochs"] / QUICK["backbone_epochs"]
                    + adapt_s * scale * len(DOMAINS) / len(QUICK["domains"]))
        print(f"quick run: {total_s / 60:.1f} min; the full run: about {estimate / 60:.0f} min "
              "on this machine")
    print(f"full run: {total_s / 60:.1f} min" if not args.quick else "")
    print(f"written {OUT / name}.csv and .md")


if __name__ == "__main__":
    main()
