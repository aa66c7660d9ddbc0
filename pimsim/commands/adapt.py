"""``pimsim adapt``: DA3 and the baselines on several domains from one checkpoint's sub-net."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pimsim.cliargs import positive_int
from pimsim.commands.common import LazyText, Subparsers, examples


def _domains() -> Sequence[str]:
    from pimsim.data.domains import DOMAINS

    return DOMAINS


def _methods() -> Sequence[str]:
    from pimsim.adapt.methods import METHODS

    return METHODS


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "adapt", help="multi-domain adaptation of a frozen backbone (DA3 and baselines)",
        description="Adapt a checkpoint's sub-net to each domain with each method; measure "
        "test top-1, trainable parameters, the bytes autograd saves for backward (training "
        "activation memory), time per epoch and the storage per added domain; cost DA3's "
        "channel gating on the chip. Writes DIR/adapt.csv, DIR/adapt_memory.png and each "
        "adapted model as DIR/models/DOMAIN/METHOD.pt (pimsim simulate --adapted DIR costs "
        "DA3's gating).",
        epilog=examples("pimsim adapt --checkpoint runs/sp/model.pt --domains rotate,invert,"
                        "noise,blur --method da3,finetune --out runs/adapt"))
    p.add_argument("--checkpoint", required=True, help="model.pt of pimsim train")
    p.add_argument("--subnet", help="sub-net to adapt (default the checkpoint's first)")
    domains = p.add_argument(
        "--domains", required=True, help="comma list of built-in domains (%(known)s) or "
        "NAME=PATH (a folder per class of PNG/JPEG, or a .npz of x and y)")
    domains.known = LazyText(_domains)
    methods = p.add_argument("--method", default="all",
                             help="comma list of methods (%(known)s), or all")
    methods.known = LazyText(_methods)
    p.add_argument("--epochs", type=positive_int, default=5, help="training epochs per domain")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (baselines)")
    p.add_argument("--da3-lr", type=float, default=2e-2, help="Adam learning rate of DA3")
    p.add_argument("--seed", type=int, default=0, help="random seed (data order, init)")
    p.add_argument("--train-limit", type=positive_int,
                   help="train on the first N training images of each domain (quick runs)")
    p.add_argument("--gate-penalty", type=float, default=0.0,
                   help="DA3: weight of the penalty that pushes channels to be gated "
                   "(0: the paper's loss)")
    p.add_argument("--compute-device", default="cpu", choices=("cpu", "cuda"),
                   help="where to train")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--bits", type=int, choices=(8, 16), default=8,
                   help="bits of the costed backbone (gating costs)")
    p.add_argument("--device-params", default="sot_mram_45nm",
                   help="device preset name or YAML file")
    p.add_argument("--mapping", default="default", help="mapping name or YAML file")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to

    with writing_to(args.out):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    import torch

    from pimsim.adapt import METHODS, AdaptConfig, TrainSettings, run_adapt, write_adapt
    from pimsim.errors import PimsimError
    from pimsim.simulate.gating import cost_adapted

    if args.compute_device == "cuda" and not torch.cuda.is_available():
        raise PimsimError("--compute-device: cuda is not available on this machine")
    if not args.gate_penalty >= 0:
        raise PimsimError(f"--gate-penalty: must be >= 0, got {args.gate_penalty}")
    for name in ("lr", "da3_lr"):
        if not getattr(args, name) > 0:
            raise PimsimError(f"--{name.replace('_', '-')}: must be positive, got "
                              f"{getattr(args, name)}")
    methods = METHODS if args.method == "all" else tuple(args.method.split(","))
    cfg = AdaptConfig(checkpoint=args.checkpoint,
                      domains=tuple(d for d in args.domains.split(",") if d),
                      methods=methods, subnet=args.subnet, data_dir=args.data_dir,
                      train=TrainSettings(args.epochs, args.batch_size, args.lr, args.seed,
                                          args.compute_device, args.train_limit,
                                          args.gate_penalty, args.da3_lr))
    result = run_adapt(cfg)
    table = cost_adapted(result, args.device_params, args.mapping, args.bits)
    out = write_adapt(args.out, table, result.models)
    cols = [c for c in ("domain", "method", "top1_float", "top1_float_gated",
                        "trainable_params", "saved_tensor_bytes", "memory_ratio_vs_finetune",
                        "epoch_s", "energy_saved_pj") if c in table]
    print(table[cols].to_string(index=False, float_format="{:.4g}".format))
    print(f"results in {out}/")
