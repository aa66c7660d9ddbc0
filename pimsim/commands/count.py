"""``pimsim count``: MACs, parameters and activations per layer of an untrained model's
sub-nets."""

from __future__ import annotations

import argparse

from pimsim.cliargs import positive_int
from pimsim.commands.common import ARCH_CHOICES, Subparsers, examples


def register(sub: Subparsers) -> None:
    p = sub.add_parser("count", help="MACs, parameters and activations per layer of sub-nets",
                       description="Count an (untrained) model's sub-nets at an input size.",
                       epilog=examples("pimsim count --model resnet18 --input-size 224 "
                                       "--num-classes 1000 --per-layer"))
    p.add_argument("--model", default="resnet20", choices=ARCH_CHOICES, metavar="NAME",
                   help="network family: %(choices)s")
    p.add_argument("--widths", default="0.25,0.5,0.75,1.0", help="uniform width ratios")
    p.add_argument("--input-size", type=positive_int, default=32, help="image size in pixels")
    p.add_argument("--in-channels", type=positive_int, default=3, help="input channels")
    p.add_argument("--num-classes", type=positive_int, default=10, help="classes")
    p.add_argument("--per-layer", action="store_true", help="print every layer")
    p.add_argument("--out", help="CSV file to write (default: print only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import pandas as pd

    from pimsim.io import write_atomic, writing_to
    from pimsim.network import DynamicNet, parse_widths, subnet_table, subnet_totals

    with writing_to(args.out, folder=False):
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
