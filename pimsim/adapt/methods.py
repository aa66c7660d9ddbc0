"""An adapted model per method, built from a frozen plain backbone (``export_subnet``'s).

What each method trains (every method trains a new classifier head per domain, copied from the
backbone's when the class counts agree):

- ``finetune``: everything (the stock PyTorch layers, BatchNorm in training mode);
- ``last-layer``: the head and every BatchNorm (affine and per-domain statistics);
- ``parallel-adapter`` / ``series-adapter``: a 1x1 adapter per convolution inside each residual
  block, every BatchNorm and the head;
- ``piggyback``: a binary mask per weight of every convolution, every BatchNorm and the head;
- ``da3``: additive attention adaptors (:class:`pimsim.adapt.modules.DA3Design`: on each
  block's first convolution, and by default on the stem), the head, and per-domain BatchNorm
  (by default statistics re-estimated on the domain and a trained bias).

Frozen convolutions and BatchNorms of every method but ``finetune`` are
:mod:`pimsim.adapt.lean` layers, and their ReLUs keep 1-byte masks: what is saved for backward
is then what the method itself needs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from pimsim.adapt.lean import DomainBatchNorm2d, FrozenConv2d, MaskReLU
from pimsim.adapt.modules import (
    DA3Design,
    DA3Unit,
    ParallelAdapter,
    PiggybackConv,
    SeriesAdapter,
)
from pimsim.errors import PimsimError
from pimsim.network.resnet import BasicBlock, Bottleneck

METHODS = ("da3", "finetune", "last-layer", "parallel-adapter", "series-adapter", "piggyback")
FLOAT_BYTES = 4


def check_methods(names: list[str]) -> list[str]:
    for name in names:
        if name not in METHODS:
            raise PimsimError(f"--method: unknown method {name!r}; choose from "
                              f"{', '.join(METHODS)}")
    return names


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def _blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, BasicBlock | Bottleneck)]


def _block_convs(model: nn.Module) -> set[str]:
    """Names of the convolutions on each block's main path (not the shortcut)."""
    return {f"{n}.{c}" for n, b in _blocks(model) for c in ("conv1", "conv2", "conv3")
            if hasattr(b, c)}


def _head(backbone: nn.Module, num_classes: int, generator: torch.Generator) -> nn.Linear:
    old: nn.Linear = backbone.fc  # type: ignore[assignment]
    head = nn.Linear(old.in_features, num_classes)
    with torch.no_grad():
        if num_classes == old.out_features:
            head.load_state_dict(old.state_dict())
        else:
            bound = 1 / old.in_features ** 0.5
            head.weight.uniform_(-bound, bound, generator=generator)
            head.bias.uniform_(-bound, bound, generator=generator)
    return head


def build_adapted(backbone: nn.Module, method: str, num_classes: int, seed: int = 0,
                  design: DA3Design | None = None) -> nn.Module:
    """A copy of ``backbone`` (a plain pimsim ResNet) adapted for one domain by ``method``
    (``design``: DA3's, default :class:`DA3Design`'s defaults); the backbone itself is never
    modified."""
    check_methods([method])
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the adapters' own initialisation
    model = copy.deepcopy(backbone).train()
    model.fc = _head(backbone, num_classes, gen)
    if method == "finetune":
        return model
    for p in model.parameters():
        p.requires_grad_(False)
    model.fc.requires_grad_(True)
    if method == "da3":
        _attach_da3(model, design or DA3Design())
    inside = _block_convs(model)
    wrap = {"parallel-adapter": ParallelAdapter, "series-adapter": SeriesAdapter}.get(method)
    units = tuple(f"{n}." for n, m in model.named_modules() if isinstance(m, DA3Unit))
    for name, m in list(model.named_modules()):
        if name.startswith(units):
            continue  # the adaptor's own layers train
        if isinstance(m, nn.Conv2d):
            if method == "piggyback":
                _set(model, name, PiggybackConv(m))
            elif wrap is not None and name in inside:
                _set(model, name, wrap(m))
            else:
                _set(model, name, FrozenConv2d(m))
        elif isinstance(m, nn.BatchNorm2d):
            if method == "da3":
                d = design or DA3Design()
                _set(model, name, DomainBatchNorm2d(m, d.bn_bias, d.bn_gain, d.bn_stats))
            else:
                m.requires_grad_(True)
        elif isinstance(m, nn.ReLU):
            _set(model, name, MaskReLU())
    return model


def _attach_da3(model: nn.Module, design: DA3Design) -> None:
    """DA3 units on each block's first convolution (gating), on each block's second one
    (``design.conv2``) and on the stem (``design.stem``); their BatchNorms become identities."""
    places = [(f"{n}.conv1", f"{n}.bn1", True) for n, _ in _blocks(model)]
    if design.conv2:
        places += [(f"{n}.conv2", f"{n}.bn2", False) for n, _ in _blocks(model)]
    if design.stem:
        places.append(("conv1", "bn1", False))
    for conv, bn, gates in places:
        unit = DA3Unit(model.get_submodule(conv), model.get_submodule(bn), design, gates)
        _set(model, conv, unit)
        _set(model, bn, nn.Identity())


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def domain_storage(model: nn.Module) -> tuple[int, int]:
    """``(values, bytes)`` stored per added domain: trained float32 tensors, the statistics of
    trained or re-estimated BatchNorms, and Piggyback's masks (one value of one bit per
    weight; its scores are not kept)."""
    values = size = 0
    for m in model.modules():
        if isinstance(m, PiggybackConv):
            values += m.scores.numel()
            size += (m.scores.numel() + 7) // 8
            continue
        n = sum(p.numel() for p in m.parameters(recurse=False) if p.requires_grad)
        if isinstance(m, nn.BatchNorm2d) and n or isinstance(m, DomainBatchNorm2d) \
                and m.reestimate:
            n += m.running_mean.numel() + m.running_var.numel()
        values += n
        size += FLOAT_BYTES * n
    return values, size


def da3_units(model: nn.Module) -> dict[str, DA3Unit]:
    """The gating DA3 units of an adapted model (each block's first convolution), by the
    name of the convolution they replace."""
    return {name: m for name, m in model.named_modules()
            if isinstance(m, DA3Unit) and m.gates}
