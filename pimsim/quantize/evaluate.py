"""Accuracy of every sub-net as float, fake-quantized and integer model, and their agreement."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch

from pimsim.data import Dataset
from pimsim.network import DynamicNet
from pimsim.progress import progress
from pimsim.quantize.export import export_subnet_int
from pimsim.quantize.intgraph import IntGraph
from pimsim.quantize.qat import calibrate, quantization_bits

COMPARE_BATCH = 512  # test images per forward pass (bounded memory on CIFAR-10's 10,000)


def calibrate_subnets(model: DynamicNet, data: Dataset, batches: int = 4,
                      batch_size: int = 64) -> None:
    """Post-training calibration of every sub-net on the first ``batches`` training batches
    (no augmentation, fixed order)."""
    images = [data.train_x[i:i + batch_size]
              for i in range(0, min(batches * batch_size, len(data.train_x)), batch_size)]
    for spec in model.subnets:
        model.set_subnet(spec)
        calibrate(model, images)


@torch.no_grad()
def compare_subnets(model: DynamicNet, data: Dataset,
                    top1_float: dict[str, float]) -> tuple[pd.DataFrame, dict[str, IntGraph]]:
    """One row per sub-net of a quantized model: ``top1_float``, ``top1_fakequant`` and
    ``top1_int`` (fractions), ``delta_points`` (integer minus float, in percentage points),
    ``agreement`` (fraction of test images where integer and fake-quantized top-1 agree) and
    ``max_logit_steps`` (largest logit difference, in output quantization steps). The
    fake-quantized model runs in float64. Both run ``COMPARE_BATCH`` images at a time. Also
    returns each sub-net's ``IntGraph``."""
    bits = quantization_bits(model)
    reference = copy.deepcopy(model).double().eval()
    x, labels = data.test_x, data.test_y.numpy()
    starts = range(0, len(x), COMPARE_BATCH)
    rows, graphs = [], {}
    for spec in progress(model.subnets, "quantize", unit="sub-net"):
        graph = export_subnet_int(model, spec, data.image_hw)
        reference.set_subnet(spec)
        fake = np.concatenate([reference(x[i:i + COMPARE_BATCH].double()).numpy()
                               for i in starts])
        q_int = np.concatenate([graph.run_int(graph.quantize_input(
            x[i:i + COMPARE_BATCH].numpy())) for i in starts])
        step = graph.layer(graph.output).out_scale
        top1_int = float((q_int.argmax(1) == labels).mean())
        rows.append({"subnet": spec.name, "bits": bits, "top1_float": top1_float[spec.name],
                     "top1_fakequant": float((fake.argmax(1) == labels).mean()),
                     "top1_int": top1_int,
                     "delta_points": 100 * (top1_int - top1_float[spec.name]),
                     "agreement": float((fake.argmax(1) == q_int.argmax(1)).mean()),
                     "max_logit_steps": int(np.abs(np.rint(fake / step) - q_int).max())})
        graphs[spec.name] = graph
    return pd.DataFrame(rows), graphs
