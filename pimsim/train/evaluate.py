"""Top-1 accuracy of sub-nets, and the per-sub-net evaluation table."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from pimsim.data import Dataset
from pimsim.network import DynamicNet, subnet_totals


@torch.no_grad()
def top1(model: nn.Module, data: Dataset, batch_size: int = 256, limit: int | None = None,
         device: str = "cpu") -> float:
    """Fraction of test images whose arg-max logit is the label (model left in eval mode)."""
    model.eval()
    correct = total = 0
    for x, y in data.test_batches(batch_size, limit):
        pred = model(x.to(device)).argmax(1).cpu()
        correct += int((pred == y).sum())
        total += len(y)
    return correct / max(total, 1)


def evaluate_subnets(model: DynamicNet, data: Dataset, batch_size: int = 256,
                     limit: int | None = None, device: str = "cpu") -> pd.DataFrame:
    """One row per registered sub-net: ``subnet``, ``spec``, ``macs``, ``params``,
    ``top1_float`` (a fraction in [0, 1]; of the model as it runs: fake-quantized after QAT)."""
    table = subnet_totals(model, data.image_hw)
    specs = {s.name: s for s in model.subnets}
    accs = []
    for name in table["subnet"]:
        model.set_subnet(name)
        accs.append(top1(model, data, batch_size, limit, device))
    table.insert(1, "spec", [_describe(specs[n]) for n in table["subnet"]])
    table["top1_float"] = accs
    return table


def _describe(spec) -> str:
    return f"ratio={spec.ratio:g}" if spec.ratio is not None else \
        "counts=" + "/".join(map(str, spec.counts))
