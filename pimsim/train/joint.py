"""Joint training of registered sub-nets with inplace knowledge distillation.

Every step trains all registered sub-nets on the same batch, the largest first (so the sandwich
rule's largest and smallest are always in), and accumulates their gradients before one
optimizer step (Yu et al., ICCV 2019). The largest sub-net learns from the labels; each other
sub-net learns from ``(1 - kd_weight) * CE(labels) + kd_weight * T^2 * KL(teacher || student)``
where the teacher is the largest sub-net's detached output softened by temperature T
(Hinton et al. 2015). SGD with Nesterov momentum and a cosine learning-rate schedule.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pimsim.data import Dataset, load_dataset
from pimsim.errors import PimsimError
from pimsim.io import write_atomic
from pimsim.network import DynamicNet, SubnetSpec, subnet_totals
from pimsim.train.checkpoint import save_checkpoint
from pimsim.train.evaluate import top1


@dataclass
class TrainConfig:
    """Everything a training run depends on (written into the checkpoint)."""

    arch: str = "resnet20"
    dataset: str = "digits"
    data_dir: str | None = None
    widths: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    epochs: int = 15
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        checks = [("epochs", self.epochs >= 1), ("batch_size", self.batch_size >= 1),
                  ("lr", self.lr > 0), ("kd_weight", 0 <= self.kd_weight <= 1),
                  ("kd_temperature", self.kd_temperature > 0), ("widths", bool(self.widths))]
        for name, ok in checks:
            if not ok:
                raise PimsimError(f"--{name.replace('_', '-')}: invalid value "
                                  f"{getattr(self, name)!r}")


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)), batch mean (Hinton et al. 2015)."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1),
                    reduction="batchmean") * t * t


def train_joint(model: DynamicNet, data: Dataset, cfg: TrainConfig,
                quiet: bool = False) -> pd.DataFrame:
    """Train all registered sub-nets jointly; returns the per-epoch log (long form)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    macs = subnet_totals(model, data.image_hw).set_index("subnet")["macs"]
    order = sorted(model.subnets, key=lambda s: -macs[s.name])
    model.to(cfg.device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    steps = cfg.epochs * -(-len(data.train_y) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    log = []
    start = time.perf_counter()
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="epochs", disable=quiet):
        model.train()
        sums = dict.fromkeys((s.name for s in order), 0.0)
        batches = 0
        for x, y in tqdm(data.train_batches(cfg.batch_size, gen), desc=f"epoch {epoch}",
                         leave=False, disable=quiet):
            x, y = x.to(cfg.device), y.to(cfg.device)
            opt.zero_grad(set_to_none=True)
            teacher = None
            for spec in order:
                model.set_subnet(spec)
                out = model(x)
                if teacher is None:
                    loss = F.cross_entropy(out, y)
                    teacher = out.detach()
                else:
                    loss = ((1 - cfg.kd_weight) * F.cross_entropy(out, y)
                            + cfg.kd_weight * distill_loss(out, teacher, cfg.kd_temperature))
                loss.backward()
                sums[spec.name] += float(loss.detach())
            opt.step()
            sched.step()
            batches += 1
        for spec in order:
            model.set_subnet(spec)
            acc = top1(model, data, device=cfg.device)
            log.append({"epoch": epoch, "subnet": spec.name,
                        "train_loss": sums[spec.name] / batches, "test_top1": acc,
                        "wall_s": time.perf_counter() - start})
    model.set_subnet(order[0])
    return pd.DataFrame(log)


def run_training(cfg: TrainConfig, out_dir: str | Path, quiet: bool = False) -> DynamicNet:
    """``pimsim train``: load data, build, train, write ``model.pt`` and ``train_log.csv``."""
    cfg.validate()
    data = load_dataset(cfg.dataset, cfg.data_dir)
    specs = [SubnetSpec.uniform(w) for w in sorted(set(cfg.widths), reverse=True)]
    torch.manual_seed(cfg.seed)
    model = DynamicNet(cfg.arch, data.num_classes, data.in_channels, specs)
    log = train_joint(model, data, cfg, quiet)
    out = Path(out_dir)
    save_checkpoint(out / "model.pt", model.cpu(), data.image_hw, cfg.dataset,
                    meta={"train_config": asdict(cfg)})
    write_atomic(out / "train_log.csv", lambda p: log.to_csv(p, index=False))
    return model
