"""Fault-injected against fault-free bit-exact PIM inference of the 8-bit resnet20 sub-nets.

Run: ``.venv/bin/python benchmarks/faults.py [--quick]``. Measured in one run, per sub-net
(widths 0.25/0.5/0.75/1.0, weights calibrated at 8 bits, untrained: speed does not depend on
the values): bit-exact PIM inference over the digits test images (``--quick``: 64 images, best
of 2; else all 450, best of 5) fault-free, and with every AND2 sense and activation write wrong
with probability ``ERROR_PROB`` (a fresh seeded injector per run). Target: the fault-injected
time at most 3x the fault-free time of the same sub-nets. The fault path costs time in
proportion to the number of injected flips (see :mod:`pimsim.device.faults`); the last line
times a ten times larger probability for reference.
"""

from __future__ import annotations

import argparse

import torch
from pim_inference import best_of  # this folder: run as a script

from pimsim.data import load_digits
from pimsim.device import load_device_params
from pimsim.device.variation import FaultRates
from pimsim.mapper import load_mapping
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.quantize import export_subnet_int, prepare_qat
from pimsim.quantize.evaluate import calibrate_subnets
from pimsim.simulate.faults import SubnetCase, run_trial

WIDTHS = (1.0, 0.75, 0.5, 0.25)
ERROR_PROB = 1e-6  # about where the sub-nets lose their first points of accuracy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64 images, best of 2")
    args = ap.parse_args()
    images, repeats = (64, 2) if args.quick else (None, 5)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    data = load_digits()
    specs = [SubnetSpec.uniform(w) for w in WIDTHS]
    model = DynamicNet("resnet20", 10, 1, specs)
    prepare_qat(model, 8)
    calibrate_subnets(model, data, 4)
    model.eval()
    x, labels = data.test_x[:images].numpy(), data.test_y[:images].numpy()
    chip = load_mapping().chip
    params = load_device_params()
    print(f"resnet20, digits ({len(x)} images), 8 bits, best of {repeats} (s); "
          f"injected error probability {ERROR_PROB:g}")
    print(f"{'sub-net':>8} {'fault-free':>11} {'faulty':>9} {'ratio':>7}")
    total = {"free": 0.0, "faulty": 0.0, "faulty_x10": 0.0}
    for spec in specs:
        graph = export_subnet_int(model, spec, data.image_hw)
        case = SubnetCase(spec.name, graph, graph.quantize_input(x), labels, (), 0.0)
        times = {}
        for key, rates in (("free", FaultRates()), ("faulty", FaultRates.uniform(ERROR_PROB)),
                           ("faulty_x10", FaultRates.uniform(10 * ERROR_PROB))):
            run_trial(case, rates, 0, chip.rows, chip.cols, params)  # compile / warm caches
            times[key] = best_of(lambda r=rates, c=case: run_trial(c, r, 1, chip.rows, chip.cols,
                                                           params), repeats)
            total[key] += times[key]
        print(f"{spec.name:>8} {times['free']:11.4f} {times['faulty']:9.4f} "
              f"{times['faulty'] / times['free']:7.2f}")
    print(f"{'all':>8} {total['free']:11.4f} {total['faulty']:9.4f} "
          f"{total['faulty'] / total['free']:7.2f}  (target <= 3)")
    print(f"at {10 * ERROR_PROB:g}: {total['faulty_x10']:.4f} s, "
          f"{total['faulty_x10'] / total['free']:.2f}x fault-free")


if __name__ == "__main__":
    main()
