"""``pimsim train``: train a dynamic network's sub-nets with one of five methods."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pimsim.cliargs import comma_list, fractions, positive_int
from pimsim.commands.common import (
    ARCH_CHOICES,
    LazyChoices,
    Subparsers,
    examples,
    print_top1_table,
)
from pimsim.errors import PimsimError


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "train", help="train a dynamic network's sub-nets",
        description="Train sub-nets with one of five methods. individual: each sub-net alone "
        "(the baseline); uniform: uniform widths jointly (CA-DNN; sandwich rule, inplace "
        "distillation); multi-path: background model, one sparsity retrain per budget that "
        "selects its channels (nested: each within the next larger), then the family jointly; "
        "single-path: sub-nets fixed at "
        "chosen epochs of one training round; ast: sparse sub-nets trained in turn with "
        "gradient correction. Writes DIR/results.csv, model.pt, subnets.yaml, cost.json, "
        "train_log.csv; DIR/state.pt after every epoch (see --resume).",
        epilog=examples("pimsim train --method uniform --widths 0.25,0.5,0.75,1.0 --epochs 5 "
                        "--out runs/uniform",
                        "pimsim train --method single-path --bits 8 --out runs/sp > train.log"))
    p.add_argument("--method", default="uniform", choices=LazyChoices(_method_names),
                   metavar="METHOD", help="one of %(choices)s")
    p.add_argument("--model", default="resnet20", choices=ARCH_CHOICES, metavar="NAME",
                   help="network family: %(choices)s")
    p.add_argument("--dataset", default="digits",
                   help="digits, digits-affine, cifar10, synthetic or synthetic:TRAIN,TEST")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--input-size", type=positive_int, default=224,
                   help="synthetic data: image size in pixels")
    p.add_argument("--num-classes", type=positive_int, default=1000,
                   help="synthetic data: classes")
    targets = p.add_mutually_exclusive_group()
    targets.add_argument("--budgets", type=fractions,
                         help="targets as fractions of the full model's MACs (ast: weight "
                         "densities; default 0.25,0.5,0.75,1.0)")
    targets.add_argument("--widths", type=fractions,
                         help="uniform width ratios (uniform, individual; default "
                         "0.25,0.5,0.75,1.0)")
    targets.add_argument("--specs", dest="specs_file",
                         help="YAML/JSON file of explicit sub-net specs")
    p.add_argument("--epochs", type=positive_int, default=15, help="training epochs")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    p.add_argument("--lr", type=float, default=0.05,
                   help="initial learning rate (SGD, cosine schedule)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="SGD weight decay")
    p.add_argument("--kd-weight", type=float, default=1.0,
                   help="weight of the distillation loss for the smaller sub-nets (0..1)")
    p.add_argument("--kd-temperature", type=float, default=1.0,
                   help="temperature of the distillation softmax")
    p.add_argument("--subnets-per-step", type=positive_int,
                   help="sandwich rule: sub-nets trained per step (largest, smallest, rest "
                   "random; default 4); single-path: the full model and the least-trained smaller "
                   "ones (default 2)")
    p.add_argument("--sparse-epochs", type=positive_int,
                   help="multi-path: epochs of each sparsity retrain (default epochs/3)")
    p.add_argument("--sparsity-weight", type=float,
                   help="multi-path: L1 weight on the BatchNorm scales of the channels a "
                   "sub-net's budget drops, in its retrain (default 0.2)")
    p.add_argument("--fix-epochs", type=comma_list(int, "integer"),
                   help="single-path: 0-based epochs at which each sub-net is fixed")
    p.add_argument("--cost-budget", type=float,
                   help="single-path: training MACs at most this times those of training the "
                   "full model alone (>= 1, default 1.3; 0: no limit); smaller sub-nets join "
                   "steps only within it")
    p.add_argument("--budget-share", choices=("samples", "macs"),
                   help="single-path: a smaller sub-net's share of the cost budget counts its "
                   "samples (equal steps; default) or its MACs (equal MACs: smaller sub-nets get "
                   "more steps)")
    p.add_argument("--mask-update-until", type=float, default=0.5,
                   help="ast: fraction of epochs during which masks follow magnitudes")
    p.add_argument("--bits", type=int, choices=(8, 16),
                   help="quantization-aware training at 8 or 16 bits (fake quantizers with "
                   "per-sub-net ranges); default: float")
    p.add_argument("--seed", type=int, default=0, help="random seed (data order, init)")
    p.add_argument("--validation", type=float, default=0.1,
                   help="fraction of the training data held out (seeded, per class) for the "
                   "per-epoch log and tuning; the test set is only for the final results "
                   "(0: none)")
    p.add_argument("--train-samples", type=positive_int,
                   help="train on this many of the remaining training images (seeded subset; "
                   "default all)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=positive_int,
                   help="CPU threads for PyTorch (default: PyTorch's, one per core); float sums, "
                   "so the trained weights, depend on it; 1 avoids stalls when other processes "
                   "share the cores")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.set_defaults(func=run)


def _method_names() -> tuple[str, ...]:
    from pimsim.train import METHOD_NAMES

    return METHOD_NAMES


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to
    from pimsim.train import TrainConfig, run_training

    cfg = TrainConfig(method=args.method, arch=args.model, dataset=args.dataset,
                      data_dir=args.data_dir, input_size=args.input_size,
                      num_classes=args.num_classes, budgets=args.budgets, widths=args.widths,
                      specs_file=args.specs_file, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                      kd_weight=args.kd_weight, kd_temperature=args.kd_temperature,
                      subnets_per_step=args.subnets_per_step, sparse_epochs=args.sparse_epochs,
                      sparsity_weight=args.sparsity_weight, fix_epochs=args.fix_epochs,
                      cost_budget=args.cost_budget, budget_share=args.budget_share,
                      mask_update_until=args.mask_update_until, bits=args.bits,
                      seed=args.seed, validation=args.validation,
                      train_samples=args.train_samples,
                      device=_torch_device(args.device))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with writing_to(args.out):
        run_training(cfg, args.out, resume=args.resume, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 writes and reports
        _print_results(Path(args.out))


def _print_results(out: Path) -> None:
    import pandas as pd

    from pimsim.train.run import RESULTS_FILE

    table = pd.read_csv(out / RESULTS_FILE)
    shown = table[["subnet", "macs", "params", "weight_density", "top1_float"]]
    print_top1_table(shown)
    print(f"results in {out}/")


def _torch_device(name: str) -> str:
    import torch

    if name not in ("cpu", "cuda"):
        raise PimsimError(f"--device: unknown device {name!r}; choose cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise PimsimError("--device: cuda requested but no CUDA GPU is available")
    return name
