"""BatchNorm re-calibration for a sub-net that was not trained directly.

Its BatchNorm statistics are re-estimated in train mode over a set number of training batches,
augmented as in training (the statistics must match the distribution the weights were trained
on; on ``digits-affine`` plain images would not), with a cumulative moving average
(momentum=None), weights untouched (Yu & Huang, ICCV 2019,
"post-statistics"). Affine parameters start from the widest registered sub-net's BatchNorm,
sliced to the new sub-net's channels.
"""

from __future__ import annotations

import torch

from pimsim.data import Dataset
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.network.ops import SwitchableBatchNorm2d


@torch.no_grad()
def recalibrate_bn(model: DynamicNet, spec: SubnetSpec, data: Dataset, batches: int = 50,
                   batch_size: int = 64, seed: int = 0) -> None:
    """Register ``spec`` if needed, then re-estimate its BatchNorm statistics."""
    if spec.name not in {s.name for s in model.subnets}:
        widest = max(range(len(model.subnets)), key=lambda i: sum(model.counts(model.subnets[i])))
        model.register_subnet(spec)
        copy_bn_from(model, widest, model.index_of(spec))
    idx = model.index_of(spec)
    layers = [m for m in model.body.modules() if isinstance(m, SwitchableBatchNorm2d)]
    saved = []
    for layer in layers:
        bn = layer.bn[idx]
        bn.reset_running_stats()
        saved.append(bn.momentum)
        bn.momentum = None
    was_training, active = model.training, model.active
    model.train()
    model.set_subnet(spec)
    gen = torch.Generator().manual_seed(seed)
    for i, (x, _) in enumerate(data.train_batches(batch_size, gen)):
        if i >= batches:
            break
        model(x)
    for layer, momentum in zip(layers, saved, strict=True):
        layer.bn[idx].momentum = momentum
    model.train(was_training)
    model.set_subnet(active)


@torch.no_grad()
def copy_bn_from(model: DynamicNet, src: int, dst: int) -> None:
    """Start sub-net ``dst``'s BatchNorms from sub-net ``src``'s, sliced to ``dst``'s width."""
    for layer in model.body.modules():
        if isinstance(layer, SwitchableBatchNorm2d):
            a, b = layer.bn[src], layer.bn[dst]
            n = min(a.num_features, b.num_features)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(b, name)[:n].copy_(getattr(a, name)[:n])
