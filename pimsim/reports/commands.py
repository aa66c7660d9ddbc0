"""``pimsim sweep``, ``plot``, ``latency`` and ``select``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pimsim.cliargs import comma_list, fractions, nonneg_int, positive_int
from pimsim.errors import PimsimError


def register(sub: argparse._SubParsersAction) -> None:
    from pimsim.network import ARCHS

    p = sub.add_parser(
        "sweep", help="cross product of sub-nets, bits, devices and chip/device overrides",
        description="Evaluate every combination of --bits, --device-params and --set axes for "
        "every sub-net; one row per sub-net and point in DIR/sweep.csv. Resumable: rerun the "
        "same command to finish an interrupted sweep.")
    p.add_argument("--checkpoint", help="model.pt (accuracy from the integer executor)")
    p.add_argument("--cost-only", action="store_true")
    p.add_argument("--model", choices=ARCHS, metavar="NAME", help="with --cost-only")
    p.add_argument("--input-size", type=positive_int, default=224, help="with --cost-only")
    p.add_argument("--num-classes", type=positive_int, default=1000, help="with --cost-only")
    p.add_argument("--widths", type=fractions, default=[0.25, 0.5, 0.75, 1.0],
                   help="with --cost-only")
    p.add_argument("--bits", type=comma_list(int, "integer"), default=[8], help="e.g. 8,16")
    p.add_argument("--device-params", type=comma_list(str, "name"), default=["sot_mram_45nm"],
                   help="presets or files, e.g. sot_mram_45nm,stt_mram_45nm,sram_45nm")
    p.add_argument("--mapping", default="default")
    p.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=V1,V2",
                   help="an axis over a mapping key (chip.rows=128,256) or a device key "
                   "(mtj.tmr_ratio=0.9,1.5); repeat for more axes")
    p.add_argument("--limit", type=positive_int, help="test images for accuracy")
    p.add_argument("--data-dir")
    p.add_argument("--jobs", type=positive_int, default=1, help="processes (default 1)")
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("plot", help="Pareto fronts and breakdowns (PNG and SVG) of a folder",
                       description="Draw every figure the CSVs in DIR allow (sweep.csv, "
                       "subnets.csv, layers.csv, latency.csv).")
    p.add_argument("dir")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("latency", help="measured latency of every exported sub-net",
                       description="Time every sub-net of a checkpoint, exported as a "
                       "standalone model, on CPU or GPU; writes latency.csv.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--batch", type=positive_int, default=1)
    p.add_argument("--repeats", type=positive_int, default=20)
    p.add_argument("--warmup", type=nonneg_int, default=3)
    p.add_argument("--input-size", type=positive_int, help="default: the checkpoint's data set")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: torch's)")
    p.add_argument("--data-dir")
    p.add_argument("--out", required=True, help="CSV file")
    p.set_defaults(func=_cmd_latency)

    p = sub.add_parser("select", help="the most accurate sub-net within a budget",
                       description="Pick the most accurate sub-net whose measured latency "
                       "(DIR/latency.csv) or simulated energy (DIR/subnets.csv) fits.")
    p.add_argument("dir")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-ms", type=float, help="measured latency per batch (ms)")
    budget.add_argument("--budget-uj", type=float, help="simulated energy per image (uJ)")
    p.set_defaults(func=_cmd_select)


def _cmd_sweep(args: argparse.Namespace) -> None:
    from pimsim.reports.sweep import SweepConfig, parse_axis, run_sweep

    axes = {}
    for text in args.set:
        key, values = parse_axis(text)
        if key in axes:
            raise PimsimError(f"--set: {key}: given twice; list all its values in one --set")
        axes[key] = values
    cfg = SweepConfig(checkpoint=args.checkpoint, cost_only=args.cost_only, model=args.model,
                      input_size=args.input_size, num_classes=args.num_classes,
                      widths=args.widths, bits=args.bits, devices=args.device_params,
                      mapping=args.mapping, axes=axes, limit=args.limit,
                      data_dir=args.data_dir, jobs=args.jobs)
    table = run_sweep(cfg, args.out, quiet=args.quiet)
    print(f"{len(table)} rows in {Path(args.out) / 'sweep.csv'}")


def _cmd_plot(args: argparse.Namespace) -> None:
    from pimsim.reports.plots import plot_dir

    for path in plot_dir(args.dir):
        print(path)


def _cmd_latency(args: argparse.Namespace) -> None:
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
    table = measure_latency(model, hw, args.device, args.batch, args.repeats, args.warmup)
    acc = evaluate_subnets(model, data)[["subnet", "macs", "top1"]]
    table = table.merge(acc, on="subnet")
    write_atomic(args.out, lambda p: table.to_csv(p, index=False))
    print(table.to_string(index=False, float_format="{:.4g}".format))


def _cmd_select(args: argparse.Namespace) -> None:
    from pimsim.reports.pareto import select_within_budget
    from pimsim.reports.tables import read_table

    folder = Path(args.dir)
    name, cost, budget = (("latency.csv", "median_ms", args.budget_ms)
                          if args.budget_ms is not None
                          else ("subnets.csv", "energy_per_image_uj", args.budget_uj))
    path = folder / name
    if not path.is_file():
        raise PimsimError(f"{path}: not found (run pimsim latency/simulate into {folder})")
    table = read_table(path)
    accuracy = "top1" if "top1" in table.columns else "top1_pim"
    row = select_within_budget(table, budget, cost, accuracy)
    print(f"{row.subnet}: {accuracy} {100 * row[accuracy]:.2f} %, {cost} {row[cost]:.4g} "
          f"(budget {budget:g})")
