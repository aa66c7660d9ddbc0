"""Measured run-time trade-off of exported uniform resnet18 sub-nets at 224x224 on a GPU.

Run: ``python benchmarks/gpu_latency.py [--device cuda] [--batch 128] [--repeats 20]``.
Times every sub-net (widths 0.25/0.5/0.75/1.0) with ``pimsim.reports.latency.measure_latency``
(exported standalone models, warm-up, CUDA-synchronised repeats, median) and prints ms per batch
with ratios to the full model measured in the same run. The seed reports 13.4 / 24.6 / 41.3 /
62.1 ms at batch 128 on its GPU (ratios 0.22 / 0.40 / 0.67 / 1), a reference, not a target.
"""

from __future__ import annotations

import argparse

import torch

from pimsim.network import DynamicNet, SubnetSpec
from pimsim.reports.latency import measure_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_latency: no CUDA GPU here; skipped (use --device cpu to time the CPU)")
        return
    specs = [SubnetSpec.uniform(w) for w in (1.0, 0.75, 0.5, 0.25)]
    model = DynamicNet("resnet18", 1000, 3, specs)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    table = measure_latency(model, (args.size, args.size), args.device, args.batch,
                            args.repeats, warmup=5)
    full = table.median_ms.iloc[0]
    table["ratio"] = table.median_ms / full
    print(f"resnet18 {args.size}x{args.size}, batch {args.batch}, fp32, {name}")
    print(table[["subnet", "median_ms", "min_ms", "max_ms", "per_image_ms", "ratio"]]
          .to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
