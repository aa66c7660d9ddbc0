"""``pimsim latency``: measured CPU/GPU latency of every sub-net of a checkpoint."""

from __future__ import annotations

import argparse

from pimsim.cliargs import nonneg_int, positive_int
from pimsim.commands.common import Subparsers, examples


def register(sub: Subparsers) -> None:
    p = sub.add_parser("latency", help="measured latency of every exported sub-net",
                       description="Time every sub-net of a checkpoint, exported as a "
                       "standalone model, on CPU or GPU; writes latency.csv.",
                       epilog=examples("pimsim latency --checkpoint runs/sp/model.pt "
                                       "--out runs/sp/latency.csv"))
    p.add_argument("--checkpoint", required=True, help="model.pt of pimsim train")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where to time: cpu or cuda")
    p.add_argument("--batch", type=positive_int, default=1, help="images per timed call")
    p.add_argument("--repeats", type=positive_int, default=20, help="timed calls per round")
    p.add_argument("--warmup", type=nonneg_int, default=3,
                   help="untimed calls per sub-net first")
    p.add_argument("--tolerance", type=float, default=0.1,
                   help="largest spread (IQR / median) of a round of --repeats runs before "
                   "the row is marked noisy")
    p.add_argument("--max-rounds", type=positive_int, default=5,
                   help="rounds of --repeats runs tried per sub-net")
    p.add_argument("--input-size", type=positive_int, help="default: the checkpoint's data set")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: torch's)")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--out", required=True, help="CSV file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to

    with writing_to(args.out, folder=False):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    import torch

    from pimsim.data import dataset_of_checkpoint
    from pimsim.io import write_atomic
    from pimsim.reports.latency import measure_latency
    from pimsim.train import evaluate_subnets, load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    model, meta = load_checkpoint(args.checkpoint)
    data = dataset_of_checkpoint(meta, args.data_dir)
    hw = (args.input_size, args.input_size) if args.input_size else data.image_hw
    table = measure_latency(model, hw, args.device, args.batch, args.repeats, args.warmup,
                            tolerance=args.tolerance, max_rounds=args.max_rounds)
    acc = evaluate_subnets(model, data)[["subnet", "macs", "top1_float"]]
    table = table.merge(acc, on="subnet")
    write_atomic(args.out, lambda p: table.to_csv(p, index=False))
    print(table.to_string(index=False, float_format="{:.4g}".format))
