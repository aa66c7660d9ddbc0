"""``pimsim quantize``: post-training calibration (or a QAT checkpoint's own ranges), integer
export of every sub-net and a CSV of float vs fake-quantized vs integer top-1."""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.cliargs import positive_int
from pimsim.commands.common import Subparsers, examples
from pimsim.errors import PimsimError


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "quantize", help="integer export of every sub-net at 8 or 16 bits",
        description="Quantize a checkpoint's sub-nets: a float checkpoint is calibrated "
        "(min/max over --calib-batches training batches), a QAT checkpoint (pimsim train "
        "--bits) keeps its learned ranges. Writes DIR/<subnet>.npz + DIR/<subnet>.json per "
        "sub-net (format: pimsim/quantize/FORMAT.md) and DIR/quantize.csv comparing float, "
        "fake-quantized and integer top-1.",
        epilog=examples("pimsim quantize --checkpoint runs/uniform/model.pt --bits 8 "
                        "--out runs/uniform/int8"))
    p.add_argument("--checkpoint", required=True, help="model.pt of pimsim train")
    p.add_argument("--bits", type=int, choices=(8, 16), default=None,
                   help="8 or 16 (required for a float checkpoint; default: a QAT "
                   "checkpoint's bits)")
    p.add_argument("--calib-batches", type=positive_int, default=4,
                   help="training batches of 64 images for calibration")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pimsim.io import writing_to

    with writing_to(args.out):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    from pimsim.data import dataset_of_checkpoint
    from pimsim.io import child, publish_dir
    from pimsim.quantize.evaluate import calibrate_subnets, compare_subnets
    from pimsim.quantize.qat import prepare_qat, quantization_bits
    from pimsim.train import evaluate_subnets, load_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    data = dataset_of_checkpoint(meta, args.data_dir)
    have = quantization_bits(model)
    if have is None:
        if args.bits is None:
            raise PimsimError(f"--bits: required: {args.checkpoint} holds a float model")
        top1_float = dict(evaluate_subnets(model, data)[["subnet", "top1_float"]].values)
        prepare_qat(model, args.bits)
        calibrate_subnets(model, data, args.calib_batches)
    else:
        if args.bits not in (None, have):
            raise PimsimError(f"--bits: {args.checkpoint} was trained at {have} bits, "
                              f"not {args.bits}")
        top1_float = {s.name: float("nan") for s in model.subnets}
    table, graphs = compare_subnets(model.eval(), data, top1_float)

    def export(tmp: Path) -> None:  # all or nothing: a failure leaves no half-exported folder
        for name, graph in graphs.items():
            graph.meta["checkpoint"] = str(args.checkpoint)
            graph.preprocessing = data.preprocessing and data.preprocessing.to_dict()
            graph.save(child(tmp, name))
        table.to_csv(tmp / "quantize.csv", index=False)

    out = publish_dir(args.out, export)
    print(table.to_string(index=False, float_format="{:.4f}".format))
    print(f"wrote {len(graphs)} integer sub-nets and quantize.csv to {out}/")
