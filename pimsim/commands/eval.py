"""``pimsim eval``: top-1 accuracy, MACs and parameters of every sub-net of a checkpoint."""

from __future__ import annotations

import argparse

from pimsim.cliargs import positive_int
from pimsim.commands.common import Subparsers, examples, print_top1_table
from pimsim.errors import PimsimError


def register(sub: Subparsers) -> None:
    p = sub.add_parser("eval", help="top-1 accuracy, MACs and parameters of every sub-net",
                       description="Evaluate every sub-net of a checkpoint on its data set's "
                       "test split; writes one CSV row per sub-net.",
                       epilog=examples("pimsim eval --checkpoint runs/uniform/model.pt "
                                       "--out runs/uniform/eval.csv"))
    p.add_argument("--checkpoint", required=True, help="model.pt of pimsim train")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--limit", type=positive_int, help="evaluate the first N test images only")
    p.add_argument("--specs", help="YAML/JSON file of extra sub-net specs to evaluate after "
                   "BatchNorm re-calibration")
    p.add_argument("--recalibrate-batches", type=positive_int, default=50,
                   help="training batches for BatchNorm re-calibration")
    p.add_argument("--out", help="CSV file to write (default: print only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to

    with writing_to(args.out, folder=False):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    from pimsim.data import dataset_of_checkpoint
    from pimsim.io import write_atomic
    from pimsim.network import load_specs
    from pimsim.quantize.qat import quantization_bits
    from pimsim.train import evaluate_subnets, load_checkpoint, recalibrate_bn

    model, meta = load_checkpoint(args.checkpoint)
    data = dataset_of_checkpoint(meta, args.data_dir)
    for spec in load_specs(args.specs) if args.specs else []:
        if spec.name in {s.name for s in model.subnets}:
            raise PimsimError(f"{args.specs}: sub-net {spec.name!r} is in the checkpoint "
                              "already; give new specs another name")
        recalibrate_bn(model, spec, data, batches=args.recalibrate_batches)
    bits = quantization_bits(model)
    table = evaluate_subnets(model, data, limit=args.limit)
    if args.out:
        write_atomic(args.out, lambda p: table.to_csv(p, index=False))
    ran = f"the {bits}-bit fake-quantized model (QAT)" if bits else "the float model"
    print(f"test-split accuracy of {ran}; pimsim simulate's top1_pim is the integer model "
          "on bit-serial PIM")
    print_top1_table(table)
