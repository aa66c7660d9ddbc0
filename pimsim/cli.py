"""The ``pimsim`` command: one subcommand per pipeline step; ``pimsim SUBCOMMAND --help``.

Every user-facing error is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pimsim import __version__
from pimsim.cliargs import comma_list, fractions, positive_int
from pimsim.errors import PimsimError


def _add_train(sub: argparse._SubParsersAction) -> None:
    from pimsim.network import ARCHS
    from pimsim.train import METHOD_NAMES

    p = sub.add_parser(
        "train", help="train a dynamic network's sub-nets",
        description="Train sub-nets with one of five methods. individual: each sub-net alone "
        "(the baseline); uniform: uniform widths jointly (CA-DNN; sandwich rule, inplace "
        "distillation); multi-path: background model, one sparsity retrain per budget to fix "
        "its channel counts, then the nested family jointly; single-path: sub-nets fixed at "
        "chosen epochs of one training round; ast: sparse sub-nets trained in turn with "
        "gradient correction. Writes DIR/results.csv, model.pt, subnets.yaml, cost.json, "
        "train_log.csv; DIR/state.pt after every epoch (see --resume).")
    p.add_argument("--method", default="uniform", choices=METHOD_NAMES, metavar="METHOD",
                   help=f"{', '.join(METHOD_NAMES)} (default uniform)")
    p.add_argument("--model", default="resnet20", choices=ARCHS, metavar="NAME",
                   help=f"network family: {', '.join(ARCHS)} (default resnet20)")
    p.add_argument("--dataset", default="digits", help="digits (default), cifar10 or synthetic")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--input-size", type=positive_int, default=224,
                   help="synthetic data: image size (default 224)")
    p.add_argument("--num-classes", type=positive_int, default=1000,
                   help="synthetic data: classes (default 1000)")
    targets = p.add_mutually_exclusive_group()
    targets.add_argument("--budgets", type=fractions,
                         help="targets as fractions of the full model's MACs, e.g. "
                         "0.25,0.5,0.75,1.0 (ast: weight densities)")
    targets.add_argument("--widths", type=fractions,
                         help="uniform width ratios (uniform, individual)")
    targets.add_argument("--specs", dest="specs_file",
                         help="YAML/JSON file of explicit sub-net specs")
    p.add_argument("--epochs", type=positive_int, default=15)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--kd-weight", type=float, default=1.0,
                   help="weight of the distillation loss for the smaller sub-nets (0..1)")
    p.add_argument("--kd-temperature", type=float, default=1.0)
    p.add_argument("--subnets-per-step", type=positive_int,
                   help="sandwich rule: sub-nets trained per step (largest, smallest, rest "
                   "random; default 4); single-path: the full model and the least-trained smaller "
                   "ones (default 2)")
    p.add_argument("--sparse-epochs", type=positive_int,
                   help="multi-path: epochs of each sparsity retrain (default epochs/3)")
    p.add_argument("--sparsity-weight", type=float, default=1e-4,
                   help="multi-path: L1 weight on BatchNorm scales")
    p.add_argument("--fix-epochs", type=comma_list(int, "integer"),
                   help="single-path: 0-based epochs at which each sub-net is fixed")
    p.add_argument("--cost-budget", type=float,
                   help="single-path: training MACs at most this times those of training the "
                   "full model alone (>= 1, default 1.3; 0: no limit); smaller sub-nets join "
                   "steps only within it")
    p.add_argument("--mask-update-until", type=float, default=0.5,
                   help="ast: fraction of epochs during which masks follow magnitudes")
    p.add_argument("--bits", type=int, choices=(8, 16),
                   help="quantization-aware training at 8 or 16 bits (fake quantizers with "
                   "per-sub-net ranges); default: float")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> None:
    from pimsim.train import TrainConfig, run_training

    cfg = TrainConfig(method=args.method, arch=args.model, dataset=args.dataset,
                      data_dir=args.data_dir, input_size=args.input_size,
                      num_classes=args.num_classes, budgets=args.budgets, widths=args.widths,
                      specs_file=args.specs_file, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                      kd_weight=args.kd_weight, kd_temperature=args.kd_temperature,
                      subnets_per_step=args.subnets_per_step, sparse_epochs=args.sparse_epochs,
                      sparsity_weight=args.sparsity_weight, fix_epochs=args.fix_epochs,
                      cost_budget=args.cost_budget,
                      mask_update_until=args.mask_update_until, bits=args.bits,
                      seed=args.seed,
                      device=_device(args.device))
    run_training(cfg, args.out, resume=args.resume, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 writes and reports
        _print_results(Path(args.out))


def _print_results(out: Path) -> None:
    import pandas as pd

    from pimsim.train.run import RESULTS_FILE

    table = pd.read_csv(out / RESULTS_FILE)
    _print_table(table[["subnet", "macs", "params", "weight_density", "top1"]])
    print(f"results in {out}/")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="top-1 accuracy, MACs and parameters of every sub-net",
                       description="Evaluate every sub-net of a checkpoint on its data set's "
                       "test split; writes one CSV row per sub-net.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--limit", type=positive_int, help="evaluate the first N test images only")
    p.add_argument("--specs", help="YAML/JSON file of extra sub-net specs to evaluate after "
                   "BatchNorm re-calibration")
    p.add_argument("--recalibrate-batches", type=positive_int, default=50,
                   help="training batches for BatchNorm re-calibration (default 50)")
    p.add_argument("--out", help="CSV file to write (default: print only)")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> None:
    from pimsim.data import dataset_of_checkpoint
    from pimsim.io import write_atomic
    from pimsim.network import load_specs
    from pimsim.train import evaluate_subnets, load_checkpoint, recalibrate_bn

    model, meta = load_checkpoint(args.checkpoint)
    data = dataset_of_checkpoint(meta, args.data_dir)
    for spec in load_specs(args.specs) if args.specs else []:
        if spec.name in {s.name for s in model.subnets}:
            raise PimsimError(f"{args.specs}: sub-net {spec.name!r} is in the checkpoint "
                              "already; give new specs another name")
        recalibrate_bn(model, spec, data, batches=args.recalibrate_batches)
    table = evaluate_subnets(model, data, limit=args.limit)
    if args.out:
        write_atomic(args.out, lambda p: table.to_csv(p, index=False))
    _print_table(table)


def _print_table(table) -> None:
    shown = table.copy()
    shown["top1"] = (100 * shown["top1"]).map("{:.2f} %".format)
    print(shown.to_string(index=False))


def _add_count(sub: argparse._SubParsersAction) -> None:
    from pimsim.network import ARCHS

    p = sub.add_parser("count", help="MACs, parameters and activations per layer of sub-nets",
                       description="Count an (untrained) model's sub-nets at an input size.")
    p.add_argument("--model", default="resnet20", choices=ARCHS, metavar="NAME")
    p.add_argument("--widths", default="0.25,0.5,0.75,1.0")
    p.add_argument("--input-size", type=positive_int, default=32)
    p.add_argument("--in-channels", type=positive_int, default=3)
    p.add_argument("--num-classes", type=positive_int, default=10)
    p.add_argument("--per-layer", action="store_true", help="print every layer")
    p.add_argument("--out", help="CSV file to write")
    p.set_defaults(func=_cmd_count)


def _cmd_count(args: argparse.Namespace) -> None:
    import pandas as pd

    from pimsim.io import write_atomic
    from pimsim.network import DynamicNet, parse_widths, subnet_table, subnet_totals

    specs = parse_widths(args.widths)
    model = DynamicNet(args.model, args.num_classes, args.in_channels, specs)
    hw = (args.input_size, args.input_size)
    if args.per_layer:
        table = pd.concat([subnet_table(model, s, hw).assign(subnet=s.name) for s in specs])
    else:
        table = subnet_totals(model, hw)
    if args.out:
        write_atomic(args.out, lambda p: table.to_csv(p, index=False))
    print(table.to_string(index=False))


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the whole pipeline on the bundled digits data (a few minutes)",
        description="Train a dynamic resnet20 on digits (single-path, 8-bit QAT), simulate "
        "every sub-net on SOT-MRAM bit-exactly, sweep 8/16 bits x SOT-MRAM/STT-MRAM/SRAM, "
        "measure CPU latency, and write CSVs and plots to --out.")
    p.add_argument("--out", default="reports/demo")
    p.add_argument("--epochs", type=positive_int, default=15)
    p.add_argument("--limit", type=positive_int, help="test images to simulate (default all)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> None:
    from pimsim.reports.demo import run_demo

    table = run_demo(args.out, epochs=args.epochs, limit=args.limit, quiet=args.quiet)
    print("dynamic resnet20 on digits: single-path sub-nets, 8-bit, simulated on SOT-MRAM")
    print(table.to_string(index=False, float_format="{:.4g}".format))
    print(f"CSVs, plots (pareto.png, ...) and summary.md in {args.out}/")


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    from pimsim.network import ARCHS

    p = sub.add_parser(
        "simulate", help="accuracy, energy, latency, memory and area of every sub-net on PIM",
        description="Quantize every sub-net of a checkpoint, map the family onto the chip "
        "(nested sub-arrays), run it bit-exactly through the bit-serial sub-array model on "
        "the test set, and cost it. Writes DIR/subnets.csv, layers.csv, summary.md and "
        "config.json. --cost-only --model NAME --input-size N costs an untrained family of "
        "uniform widths (no accuracy).")
    p.add_argument("--checkpoint", help="model.pt of pimsim train")
    p.add_argument("--subnets", default="all", help="comma list of sub-net names (default all)")
    p.add_argument("--bits", type=int, choices=(8, 16),
                   help="8 or 16 (a float checkpoint is calibrated; default: the QAT bits, "
                   "8 with --cost-only)")
    p.add_argument("--device-params", default="sot_mram_45nm",
                   help="device preset name or YAML file (default sot_mram_45nm)")
    p.add_argument("--mapping", default="default", help="mapping name or YAML file")
    p.add_argument("--limit", type=positive_int, help="simulate the first N test images")
    p.add_argument("--calib-batches", type=positive_int, default=4,
                   help="batches of 64 training images for post-training calibration")
    p.add_argument("--data-dir", help="directory of the CIFAR-10 python batches")
    p.add_argument("--cost-only", action="store_true", help="no weights, no accuracy")
    p.add_argument("--model", choices=ARCHS, metavar="NAME", help="with --cost-only")
    p.add_argument("--input-size", type=positive_int, default=224, help="with --cost-only")
    p.add_argument("--num-classes", type=positive_int, default=1000, help="with --cost-only")
    p.add_argument("--widths", type=fractions, default=[0.25, 0.5, 0.75, 1.0],
                   help="with --cost-only: uniform width ratios")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> None:
    from pimsim.simulate import SimulateConfig, simulate, write_simulation

    cfg = SimulateConfig(checkpoint=args.checkpoint, subnets=args.subnets.split(","),
                         bits=args.bits, device_params=args.device_params,
                         mapping=args.mapping, limit=args.limit, data_dir=args.data_dir,
                         calib_batches=args.calib_batches, cost_only=args.cost_only,
                         model=args.model, input_size=args.input_size,
                         num_classes=args.num_classes, widths=args.widths)
    sim = simulate(cfg)
    out = write_simulation(sim, args.out)
    cols = [c for c in ("subnet", "bits", "macs", "top1_pim", "energy_per_image_uj",
                        "latency_ns", "tops_per_w", "area_mm2") if c in sim.subnets]
    print(sim.subnets[cols].to_string(index=False, float_format="{:.4g}".format))
    print(f"results in {out}/")


def _device(name: str) -> str:
    import torch

    if name not in ("cpu", "cuda"):
        raise PimsimError(f"--device: unknown device {name!r}; choose cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise PimsimError("--device: cuda requested but no CUDA GPU is available")
    return name


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``pimsim train: error: ...``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pimsim",
        description="Dynamic neural networks on SOT-MRAM processing-in-memory hardware.")
    parser.add_argument("--version", action="version", version=f"pimsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    for add in (_add_demo, _add_train, _add_eval, _add_count, _add_simulate):
        add(sub)
    from pimsim.quantize.commands import register as add_quantize
    from pimsim.reports.commands import register as add_reports

    add_quantize(sub)
    add_reports(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pimsim`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except PimsimError as exc:
        print(f"pimsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pimsim {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
