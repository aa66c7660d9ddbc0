"""Alternating Sparse Training (AST; Li et al., NeurIPS 2022): several sparse sub-nets trained
in one sparse-training budget, one iteration each in turn, with gradient correction.

Masks: per layer, a sub-net of density d keeps the fraction d of the weights of largest
magnitude (top-k of |W|, ties by index), so sparser masks nest inside denser ones. The first
convolution and the classifier stay dense (common practice: they are small and sensitive).
Schedule: gradual magnitude pruning (Zhu & Gupta, 2017), as sparse-training methods use: at the
start of epoch ``e`` (until ``update_until``, a fraction of the epochs, ``E_u`` epochs) a
sub-net's masks are re-derived from the current magnitudes at the density
``d_e = d + (1 - d) * (1 - e / E_u)**3``, from dense at epoch 0 down to ``d`` at ``E_u``, then
frozen. (Only the papers' abstracts are available here: the schedule is this documented choice.)

Gradient correction, per layer as in the paper: for every shared weight tensor, sub-net k's
gradient g is compared with the stored gradient p of the *previous* sub-net (k-1) on that layer;
when they conflict (g . p < 0), g is projected onto p's normal plane,
``g <- g - (g . p / |p|^2) p`` (the PCGrad projection, Yu et al. 2020). Then g's raw value is
stored for the next sub-net. (The public AST code stores the current gradient first and
projects against that same gradient, so its correction never fires.)

Deviations: a target density of 1 is a dense sub-net trained in the rotation like the others
(the paper's sub-nets are all sparse; pass only densities below 1 to match it); BatchNorm is
private per sub-net (switchable), as in the public code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from pimsim.network import DynamicNet, SubnetSpec
from pimsim.train.engine import Policy


def density_name(density: float) -> str:
    return f"d{density:g}"


def magnitude_mask(weight: Tensor, density: float) -> Tensor:
    """0/1 mask keeping the ``ceil(density * n)`` largest-magnitude weights (at least one)."""
    n = weight.numel()
    k = max(1, min(n, int(-(-density * n // 1))))
    flat = weight.detach().abs().flatten()
    keep = torch.zeros(n, dtype=weight.dtype, device=weight.device)
    keep[torch.topk(flat, k, sorted=False).indices] = 1
    return keep.view_as(weight)


def correct_gradient(grad: Tensor, previous: Tensor | None) -> tuple[Tensor, bool]:
    """Project ``grad`` off ``previous`` when they conflict; returns (gradient, fired)."""
    if previous is None:
        return grad, False
    dot = torch.dot(grad, previous)
    norm2 = torch.dot(previous, previous)
    if dot >= 0 or norm2 == 0:
        return grad, False
    return grad - (dot / norm2) * previous, True


def scheduled_density(target: float, epoch: int, until: int) -> float:
    """``d + (1 - d) * (1 - e / E_u)**3`` (the gradual pruning schedule), ``d`` from ``E_u``."""
    if epoch >= until:
        return target
    return target + (1 - target) * (1 - epoch / until) ** 3


class ASTPolicy(Policy):
    """One sparse sub-net per step, in turn, with scheduled masks and per-layer gradient
    correction (``fired``/``checked``: layer corrections made/layers compared)."""

    distill = False

    def __init__(self, densities: list[float], update_until_epoch: int) -> None:
        self.densities = densities
        self.update_until_epoch = update_until_epoch
        self.previous: list[Tensor] | None = None
        self.fired = 0
        self.checked = 0

    def specs(self) -> list[SubnetSpec]:
        return [SubnetSpec(density_name(d), ratio=1.0) for d in self.densities]

    def _shared(self, model: DynamicNet) -> list[Tensor]:
        return [m.weight for m in model.masked_layers().values()]

    def on_epoch_start(self, model: DynamicNet, epoch: int) -> bool:
        if epoch > self.update_until_epoch:
            return False
        layers = model.masked_layers()
        sparse = list(layers)[1:-1]  # the first convolution and the classifier stay dense
        for d in self.densities:
            if d < 1.0:
                now = scheduled_density(d, epoch, self.update_until_epoch)
                model.set_weight_masks(density_name(d), {
                    n: magnitude_mask(layers[n].weight, now) for n in sparse})
        return False

    def step_subnets(self, model: DynamicNet, step: int, gen: torch.Generator,
                     samples: int) -> list[SubnetSpec]:
        return [model.subnets[step % len(model.subnets)]]

    def after_backward(self, model: DynamicNet, spec: SubnetSpec) -> None:
        weights = self._shared(model)
        grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]
        raw = [g.detach().reshape(-1).clone() for g in grads]
        if self.previous is not None:
            for w, g, p in zip(weights, raw, self.previous, strict=True):
                corrected, fired = correct_gradient(g, p)
                self.checked += 1
                self.fired += fired
                if fired:
                    w.grad = corrected.view_as(w).clone()
        self.previous = raw

    def state_dict(self) -> dict[str, Any]:
        return {"previous": self.previous, "fired": self.fired, "checked": self.checked}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.previous = state["previous"]
        self.fired, self.checked = state["fired"], state["checked"]
