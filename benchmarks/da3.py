"""DA3 against the adaptation baselines on digits domains, resnet20 backbone.

Run: ``.venv/bin/python benchmarks/da3.py [--quick]``. It trains a resnet20 on the source
domain (the digits; ``uniform`` method, full width only, ``--backbone-epochs``), then adapts
it with every method (da3, finetune, last-layer, parallel-adapter, series-adapter, piggyback)
to each of the domains rotate, flip, invert, noise and blur (``--epochs`` each, batch 64) and
reports per domain and method: test top-1 (DA3 also with gating), trainable parameters, the
bytes autograd saves for one training step (training activation memory) and their ratio to
fine-tuning's, the time per epoch, and DA3's gated-chip energy saving (sot_mram_45nm, 8 bit).
DA3 runs twice: with the paper's loss, and with pimsim's optional gate penalty
(``GATE_PENALTY``, Adam learning rate ``GATE_LR``: the adaptor's zero-initialised output must
travel as far as the channels' bounds), which pushes channels to be gated at inference.
Writes ``reports/benchmarks/da3.csv`` and ``reports/benchmarks/da3.md`` (the README table).

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

from pimsim.adapt import AdaptConfig, TrainSettings, run_adapt
from pimsim.io import write_atomic, write_text_atomic
from pimsim.simulate.gating import cost_adapted
from pimsim.train import TrainConfig, run_training

OUT = Path(__file__).resolve().parents[1] / "reports" / "benchmarks"
DOMAINS = ("rotate", "flip", "invert", "noise", "blur")
FULL = {"backbone_epochs": 15, "domains": DOMAINS, "epochs": 10, "train_limit": None}
QUICK = {"backbone_epochs": 3, "domains": DOMAINS[:4], "epochs": 1, "train_limit": 256}
TRAIN_IMAGES = 1347  # the digits training split
GATE_PENALTY, GATE_LR = 0.1, 1e-2


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (see docstring)")
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
        table = cost_adapted(run_adapt(cfg))
        gated = cost_adapted(run_adapt(dataclasses.replace(
            cfg, methods=("da3",),
            train=dataclasses.replace(cfg.train, gate_penalty=GATE_PENALTY, lr=GATE_LR))))
    gated["method"] = f"da3, gate penalty {GATE_PENALTY:g}, lr {GATE_LR:g}"
    finetune = table[table.method == "finetune"].set_index("domain")["saved_tensor_bytes"]
    gated["memory_ratio_vs_finetune"] = gated.domain.map(finetune) / gated.saved_tensor_bytes
    table = pd.concat([table, gated], ignore_index=True)
    total_s = time.perf_counter() - start
    name = "da3_quick" if args.quick else "da3"
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
    print(f"written {OUT / name}.csv and .md")


if __name__ == "__main__":
    main()
