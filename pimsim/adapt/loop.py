"""Training one adapted model on one domain: measured memory, time per epoch, accuracy."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from torch import nn

from pimsim.adapt.lean import estimate_statistics
from pimsim.adapt.memory import peak_cuda_bytes, saved_tensor_bytes
from pimsim.adapt.methods import da3_units
from pimsim.data import Dataset
from pimsim.train import top1


@dataclass(frozen=True)
class TrainSettings:
    """Adam (``lr``, no weight decay; DA3 at ``da3_lr``: its zero-initialised adaptors and
    per-domain BatchNorm must travel far, and Adam moves a parameter about ``lr`` per step)
    on cross-entropy, ``epochs`` passes of shuffled batches (order seeded by ``seed``, the
    same for every method); ``train_limit``: train on the first
    N training images only (quick runs); ``gate_penalty``: DA3's optional gate penalty weight
    (:mod:`pimsim.adapt.modules`; 0: the paper's loss)."""

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    compute_device: str = "cpu"
    train_limit: int | None = None
    gate_penalty: float = 0.0
    da3_lr: float = 2e-2


@dataclass(frozen=True)
class DomainRun:
    """What training one method on one domain measured."""

    saved_tensor_bytes: int
    peak_cuda_bytes: int | None
    epoch_s: float
    top1_float: float
    top1_float_gated: float | None
    active_channels: dict[str, float]  # DA3: mean channels run per image, by layer name


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_domain(model: nn.Module, data: Dataset, settings: TrainSettings) -> DomainRun:
    """Re-estimate ``model``'s per-domain BatchNorm statistics on ``data``'s training images
    (:func:`pimsim.adapt.lean.estimate_statistics`), then train its trainable parameters;
    measure the saved-tensor bytes of one step on a first batch of ``batch_size`` images, the
    time per epoch and the test top-1 (and, for DA3, top-1 and active channels with gating
    on, after :func:`calibrate_gates`)."""
    device = torch.device(settings.compute_device)
    if settings.train_limit is not None:
        n = settings.train_limit
        data = dataclasses.replace(data, train_x=data.train_x[:n], train_y=data.train_y[:n])
    model.to(device)
    estimate_statistics(model, data.train_x)  # per-domain BatchNorm statistics, if any
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=settings.lr)
    gen = torch.Generator().manual_seed(settings.seed)
    # copies: a view would count the whole training set's storage where a layer saves it
    x0 = data.train_x[:settings.batch_size].clone()
    y0 = data.train_y[:settings.batch_size].clone()
    units = da3_units(model)
    if units and settings.gate_penalty > 0:
        calibrate_gates(model, data, settings)  # M0: the backbone's own bounds
        for u in units.values():
            u.gating, u.penalize = False, True
    model.train()
    saved = saved_tensor_bytes(model, x0.to(device), y0.to(device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    start = time.perf_counter()
    for _ in range(settings.epochs):
        model.train()
        for x, y in data.train_batches(settings.batch_size, gen, augment=False):
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
            if units and settings.gate_penalty > 0:
                loss = loss + settings.gate_penalty * sum(u.penalty for u in units.values())
            loss.backward()
            opt.step()
    _sync(device)
    epoch_s = (time.perf_counter() - start) / max(settings.epochs, 1)
    peak = peak_cuda_bytes(device)
    acc = top1(model, data, device=settings.compute_device)
    gated, active = None, {}
    if units:
        calibrate_gates(model, data, settings)
        gated = top1(model, data, device=settings.compute_device)
        active = {name: float(u.active_fraction().sum()) for name, u in units.items()}
    return DomainRun(saved, peak, epoch_s, acc, gated, active)


@torch.no_grad()
def calibrate_gates(model: nn.Module, data: Dataset, settings: TrainSettings) -> None:
    """Set each DA3 unit's gate bound ``M_c``: the largest ``BN(conv(x))_c`` over the training
    images (gating off), then turn gating on with fresh counters."""
    units = list(da3_units(model).values())
    peaks: dict[int, torch.Tensor] = {}

    def record(i: int):
        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            top = out.amax(dim=(0, 2, 3))
            peaks[i] = top if i not in peaks else torch.maximum(peaks[i], top)
        return hook

    handles = [u.bn.register_forward_hook(record(i)) for i, u in enumerate(units)]
    model.eval()
    for u in units:
        u.gating = False
    try:
        for start in range(0, len(data.train_y), 256):
            model(data.train_x[start:start + 256].to(settings.compute_device))
    finally:
        for h in handles:
            h.remove()
    for i, u in enumerate(units):
        u.bound.copy_(peaks[i])
        u.gating, u.penalize = True, False
        u.reset_counts()
