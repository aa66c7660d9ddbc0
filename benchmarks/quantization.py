"""Quantization on digits with a dynamic resnet20 (widths 0.25/0.5/0.75/1.0).

Trains the float model jointly (the project's engine, uniform widths, 15 epochs), then for
8 and 16 bits: post-training calibration (PTQ, min/max over 4 training batches of 64) and
quantization-aware fine-tuning (QAT, 3 epochs at lr 0.001 from the float weights, ranges
initialised by calibration). Prints float / fake-quantized / integer top-1 per sub-net, the
integer-minus-float delta in points, and how often integer and fake-quantized predictions
agree. Runs single-threaded (small tensors; immune to a busy second core): a few minutes.

    .venv/bin/python benchmarks/quantization.py [--epochs 15] [--qat-epochs 3] [--qat-lr 0.001]
"""

from __future__ import annotations

import argparse
import copy
import time

import pandas as pd
import torch

from pimsim.data import load_digits
from pimsim.network import DynamicNet, MacModel, SubnetSpec
from pimsim.quantize import prepare_qat
from pimsim.quantize.evaluate import calibrate_subnets, compare_subnets
from pimsim.train import TrainConfig, evaluate_subnets
from pimsim.train.engine import Run
from pimsim.train.methods import JointPolicy


def train(model: DynamicNet, data, epochs: int, lr: float, name: str) -> None:
    cfg = TrainConfig(epochs=epochs, lr=lr, widths=[1.0]).resolved()
    policy = JointPolicy(len(model.subnets), MacModel(model, data.image_hw))
    Run(cfg, data, None, quiet=True).phase(name, model, epochs, policy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--qat-epochs", type=int, default=3)
    parser.add_argument("--qat-lr", type=float, default=0.001)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_digits()
    specs = [SubnetSpec.uniform(w) for w in (1.0, 0.75, 0.5, 0.25)]
    start = time.perf_counter()
    model = DynamicNet("resnet20", data.num_classes, data.in_channels, specs)
    train(model, data, args.epochs, 0.05, "float")
    float_top1 = dict(evaluate_subnets(model, data)[["subnet", "top1_float"]].values)
    print(f"float training: {time.perf_counter() - start:.0f} s")
    tables = []
    for bits in (16, 8):
        ptq = prepare_qat(copy.deepcopy(model), bits)
        calibrate_subnets(ptq, data)
        tables.append(compare_subnets(ptq.eval(), data, float_top1)[0].assign(method="PTQ"))
        qat = prepare_qat(copy.deepcopy(model), bits)
        calibrate_subnets(qat, data)
        t0 = time.perf_counter()
        train(qat, data, args.qat_epochs, args.qat_lr, f"qat{bits}")
        print(f"QAT {bits}-bit fine-tuning: {time.perf_counter() - t0:.0f} s")
        tables.append(compare_subnets(qat.eval(), data, float_top1)[0].assign(method="QAT"))
    table = pd.concat(tables)[["method", "bits", "subnet", "top1_float", "top1_fakequant",
                               "top1_int", "delta_points", "agreement", "max_logit_steps"]]
    for col in ("top1_float", "top1_fakequant", "top1_int", "agreement"):
        table[col] = 100 * table[col]
    print(table.to_string(index=False, float_format="{:.2f}".format))
    print(f"total: {time.perf_counter() - start:.0f} s (top-1, delta and agreement in %)")


if __name__ == "__main__":
    main()
