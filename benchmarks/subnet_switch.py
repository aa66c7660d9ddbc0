"""Sub-net switching time and CPU latency of exported uniform resnet18 sub-nets at 224x224.

Run: ``.venv/bin/python benchmarks/subnet_switch.py [--batch 8] [--repeats 7]``.
Prints the median time of ``set_subnet`` and, for widths 0.25/0.5/0.75/1.0, the median latency
per image of each exported sub-net and of the dynamic model (sliced weight views) in the same
sub-net, with ratios to the full model measured in the same run.
Targets (issue 2): a switch under 1 ms; the 0.25 sub-net at most 0.25x the full model.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pimsim.network import DynamicNet, SubnetSpec

WIDTHS = (0.25, 0.5, 0.75, 1.0)


def median_s(fn, repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median and (max - min) of ``repeats`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times) - min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    specs = [SubnetSpec.uniform(w) for w in WIDTHS]
    model = DynamicNet("resnet18", 1000, 3, specs).eval()

    names = [s.name for s in specs]
    n = 10_000
    t = time.perf_counter()
    for i in range(n):
        model.set_subnet(names[i % 4])
    switch_us = (time.perf_counter() - t) / n * 1e6
    print(f"set_subnet (resnet18, 4 sub-nets): {switch_us:.2f} us per switch "
          f"(target < 1000 us)")

    x = torch.randn(args.batch, 3, 224, 224)
    rows = []
    with torch.inference_mode():
        for spec in specs:
            static = model.export_subnet(spec).eval()
            med, spread = median_s(lambda m=static: m(x), args.repeats)
            model.set_subnet(spec)
            dyn, _ = median_s(lambda: model(x), args.repeats)
            rows.append((spec.name, med / args.batch * 1e3, spread / args.batch * 1e3,
                         dyn / args.batch * 1e3))
    full = rows[-1][1]
    print(f"\nresnet18 224x224, batch {args.batch}, {args.threads} threads, "
          f"median of {args.repeats} (ms per image)")
    print(f"{'sub-net':>8} {'exported':>9} {'spread':>7} {'ratio':>6} {'dynamic':>8} "
          f"{'dyn/exp':>7}")
    for name, med, spread, dyn in rows:
        print(f"{name:>8} {med:9.2f} {spread:7.2f} {med / full:6.3f} {dyn:8.2f} "
              f"{dyn / med:7.2f}")
    print(f"\nw0.25 / w1 = {rows[0][1] / full:.3f} (target <= 0.25)")


if __name__ == "__main__":
    main()
