"""Bit-exact PIM inference of every 8-bit resnet20 sub-net on digits, against torch float, and
the cost-only model of resnet18 at 224x224.

Run: ``.venv/bin/python benchmarks/pim_inference.py``. Measured in one run:
1. For each sub-net (widths 0.25/0.5/0.75/1.0; weights calibrated at 8 bits, untrained: speed
   does not depend on the values): torch float32 inference of the exported sub-net over the 450
   digits test images, and bit-serial PIM inference of its integer graph (every conv/linear
   through the numba AND + bit-count + shift-add kernel) over the same images. Target: PIM at
   most 10x torch float in total.
2. Cost-only: resnet18 at 224x224, 4 widths x 2 precisions, layer extraction + mapping + costing
   of each family. Target: under 2 s in all.
"""

from __future__ import annotations

import time

import torch

from pimsim.data import load_digits
from pimsim.device import load_device_params
from pimsim.mapper import load_mapping
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.quantize import export_subnet_int, prepare_qat
from pimsim.quantize.evaluate import calibrate_subnets
from pimsim.simulate import family_costs, layers_of_subnets, run_pim

WIDTHS = (1.0, 0.75, 0.5, 0.25)


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    data = load_digits()
    specs = [SubnetSpec.uniform(w) for w in WIDTHS]
    model = DynamicNet("resnet20", 10, 1, specs)
    float_model = DynamicNet("resnet20", 10, 1, specs)
    float_model.load_state_dict(model.state_dict())
    prepare_qat(model, 8)
    calibrate_subnets(model, data, 4)
    model.eval()
    x = data.test_x
    chip = load_mapping().chip
    params = load_device_params()
    print(f"resnet20, digits test set ({len(x)} images), 8 bits, 2 threads, best of 5 (s)")
    print(f"{'sub-net':>8} {'torch fp32':>11} {'PIM bit-serial':>15} {'ratio':>7}")
    total_t = total_p = 0.0
    for spec in specs:
        plain = float_model.export_subnet(spec).eval()
        with torch.inference_mode():
            t_torch = best_of(lambda p=plain: p(x))
        graph = export_subnet_int(model, spec, data.image_hw)
        xq = graph.quantize_input(x.numpy())
        run_pim(graph, xq[:2], chip.rows, chip.cols, params)  # numba compile / cache load
        t_pim = best_of(lambda g=graph, q=xq: run_pim(g, q, chip.rows, chip.cols, params))
        total_t += t_torch
        total_p += t_pim
        print(f"{spec.name:>8} {t_torch:11.4f} {t_pim:15.4f} {t_pim / t_torch:7.1f}")
    print(f"{'all':>8} {total_t:11.4f} {total_p:15.4f} {total_p / total_t:7.1f}  (target <= 10)")

    big = DynamicNet("resnet18", 1000, 3, specs)
    mapping = load_mapping()
    t = time.perf_counter()
    for bits in (8, 16):
        family_costs(layers_of_subnets(big, (224, 224), bits), params, mapping)
    print(f"\ncost-only resnet18 224x224, 4 widths x 2 precisions: {time.perf_counter() - t:.3f} s"
          " (target < 2 s)")


if __name__ == "__main__":
    main()
