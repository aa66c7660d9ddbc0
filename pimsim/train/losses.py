"""Training losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)), batch mean (Hinton et al. 2015)."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1),
                    reduction="batchmean") * t * t


def subnet_loss(out: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None,
                kd_weight: float, temperature: float) -> torch.Tensor:
    """Cross-entropy for the teacher (or without one); otherwise inplace distillation:
    ``(1 - kd_weight) * CE + kd_weight * distill_loss`` (Yu et al., ICCV 2019)."""
    ce = F.cross_entropy(out, labels)
    if teacher is None or kd_weight == 0:
        return ce
    return (1 - kd_weight) * ce + kd_weight * distill_loss(out, teacher, temperature)
