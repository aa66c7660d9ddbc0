"""The training engine: phases of epochs, checkpoints after every epoch, exact resume, cost.

A method (``methods.py``) is a sequence of named *phases*; each trains one model for some
epochs under a *policy* that says which sub-nets run at each step. After every epoch the
whole run state (model, optimizer, random generators, policy state, costs, log) is written
atomically to ``DIR/state.pt`` (with its SHA-256, :func:`pimsim.train.checkpoint.save_sealed`);
``resume=True`` verifies and reloads it (any file that does not fit: one-line error), skips
completed phases (restoring their results) and continues the interrupted one, so on CPU with
the same seed the final weights equal an uninterrupted run's.

Learning rate: SGD with Nesterov momentum, cosine decay per step over each phase
(``lr_t = lr * (1 + cos(pi * t / T)) / 2``). Cost: per phase and per sub-net, forward and
backward passes (batches), samples, and forward MACs (samples x the sub-net's MACs); per phase,
optimizer steps and wall time. Evaluation passes are not counted as training cost.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pimsim.data import Dataset
from pimsim.errors import PimsimError
from pimsim.network import DynamicNet, MacModel, SubnetSpec
from pimsim.progress import progress
from pimsim.train.checkpoint import load_sealed, save_sealed
from pimsim.train.config import RunConfig
from pimsim.train.distributed import DistContext
from pimsim.train.evaluate import top1
from pimsim.train.losses import subnet_loss

STATE_FILE = "state.pt"


class StopTraining(Exception):
    """Raised after ``stop_after_epochs`` epochs of this call (used to slice long runs)."""


class Policy:
    """Default policy: every step trains ``step_subnets``'s list, the first as the teacher
    (``samples``: the step's whole batch size, the same on every rank, for policies that
    account for cost)."""

    distill = True

    def step_subnets(self, model: DynamicNet, step: int, gen: torch.Generator,
                     samples: int) -> list[SubnetSpec]:
        raise NotImplementedError

    def on_epoch_start(self, model: DynamicNet, epoch: int) -> bool:
        """Change the model before an epoch; return True when its parameters changed."""
        return False

    def regularizer(self, model: DynamicNet) -> torch.Tensor | None:
        return None

    def after_backward(self, model: DynamicNet, spec: SubnetSpec) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def snapshot(model: DynamicNet) -> dict[str, Any]:
    """Everything needed to rebuild ``model`` as it is: sub-nets, weights, masks."""
    return {"subnets": [s.to_dict() for s in model.subnets],
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "masks": {s.name: model.weight_masks(s) for s in model.subnets}}


def restore(model: DynamicNet, snap: dict[str, Any]) -> None:
    """Inverse of :func:`snapshot` on a model whose sub-nets are a prefix of the snapshot's."""
    specs = [SubnetSpec.from_dict(d) for d in snap["subnets"]]
    have = [s.name for s in model.subnets]
    if have != [s.name for s in specs[:len(have)]]:
        raise PimsimError(f"state: sub-nets {have} do not match the saved run")
    for spec in specs[len(have):]:
        model.register_subnet(spec)
    device = next(model.parameters()).device
    model.load_state_dict(snap["state_dict"])
    for name, masks in snap["masks"].items():
        if masks:
            model.set_weight_masks(name, {k: v.to(device) for k, v in masks.items()})


@dataclass
class CostMeter:
    """Training-cost counters: ``subnets[phase][subnet]`` and ``phases[phase]``."""

    subnets: dict[str, dict[str, dict[str, float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(float))))
    phases: dict[str, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float)))

    def count_pass(self, phase: str, subnet: str, samples: int, macs: int) -> None:
        c = self.subnets[phase][subnet]
        c["forward_passes"] += 1
        c["backward_passes"] += 1
        c["samples"] += samples
        c["forward_macs"] += samples * macs

    def to_dict(self) -> dict[str, Any]:
        return {"subnets": {p: {s: dict(c) for s, c in v.items()} for p, v in self.subnets.items()},
                "phases": {p: dict(v) for p, v in self.phases.items()}}

    def load(self, data: dict[str, Any]) -> None:
        for p, v in data["subnets"].items():
            for s, c in v.items():
                self.subnets[p][s].update(c)
        for p, v in data["phases"].items():
            self.phases[p].update(v)

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for v in self.subnets.values():
            for c in v.values():
                for k, x in c.items():
                    out[k] += x
        for v in self.phases.values():
            for k, x in v.items():
                out[k] += x
        return dict(out)


class Run:
    """One training run in ``out_dir`` (rank 0 writes; ``out_dir=None`` writes nothing)."""

    def __init__(self, config: RunConfig, data: Dataset, out_dir: Path | None,
                 resume: bool = False, quiet: bool = False, dist: DistContext | None = None,
                 stop_after_epochs: int | None = None) -> None:
        self.config, self.data, self.out_dir = config, data, out_dir
        self.quiet, self.dist = quiet, dist or DistContext()
        self.cost = CostMeter()
        self.notes: dict[str, Any] = {}  # what a method reports (recomputed on resume)
        self.log: list[dict[str, Any]] = []
        self.done: dict[str, dict[str, Any]] = {}
        self.current: dict[str, Any] | None = None
        self.epochs_left = stop_after_epochs
        self._mac_models: dict[int, MacModel] = {}
        self.state_path: Path | None = None
        if resume and out_dir is not None and (out_dir / STATE_FILE).is_file():
            self._load(out_dir / STATE_FILE)

    # -- persistence ------------------------------------------------------------------------
    def _load(self, path: Path) -> None:
        state = load_sealed(path, "training state")
        _check_state(state, path)
        self.state_path = path
        new = self.config.to_dict()
        old = state["config"]
        if any(old.get(k) != v for k, v in new.items()):  # keys other methods use may remain
            diff = next(k for k in sorted(new) if old.get(k) != new[k])
            raise PimsimError(f"{path}: config: {diff}: the run was started with "
                              f"{old.get(diff)!r}, not {new.get(diff)!r}; use another --out")
        self.cost.load(state["cost"])
        self.log = list(state["log"])
        self.done = dict(state["done"])
        self.current = state["current"]

    def _save(self) -> None:
        if self.out_dir is None or not self.dist.is_main:
            return
        state = {"config": self.config.to_dict(), "cost": self.cost.to_dict(), "log": self.log,
                 "done": self.done, "current": self.current}
        save_sealed(self.out_dir / STATE_FILE, state)

    @contextmanager
    def _restoring(self, field: str) -> Iterator[None]:
        """A saved state that does not fit this run's model: one line naming the file."""
        try:
            yield
        except PimsimError as exc:
            raise PimsimError(f"{self.state_path}: {field}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
            raise PimsimError(f"{self.state_path}: {field}: does not fit this run "
                              f"({type(exc).__name__})") from None

    # -- training ---------------------------------------------------------------------------
    def subnet_macs(self, model: DynamicNet, spec: SubnetSpec) -> int:
        """MACs of one image through ``spec`` (dense: weight masks are not subtracted)."""
        if id(model) not in self._mac_models:
            self._mac_models[id(model)] = MacModel(model, self.data.image_hw)
        return self._mac_models[id(model)].macs(model.counts(spec))

    def phase(self, name: str, model: DynamicNet, epochs: int, policy: Policy) -> None:
        """Train ``model`` for ``epochs`` under ``policy`` (or restore it if already done)."""
        cfg = self.config
        if name in self.done:
            with self._restoring(f"done: {name}"):
                restore(model, self.done[name]["model"])
                policy.load_state_dict(self.done[name]["policy"])
            return
        device = cfg.device
        model.to(device)
        gen = torch.Generator().manual_seed(cfg.seed + zlib.crc32(name.encode()))
        opt = _optimizer(model, cfg)
        start_epoch, step = 0, 0
        if self.current is not None and self.current["phase"] == name:
            cur = self.current
            with self._restoring("current"):
                restore(model, cur["model"])
                opt = _optimizer(model, cfg)
                opt.load_state_dict(cur["optimizer"])
                gen.set_state(cur["generator"])
                torch.set_rng_state(cur["torch_rng"])
                policy.load_state_dict(cur["policy"])
                start_epoch, step = int(cur["epochs_done"]), int(cur["step"])
        batches_per_epoch = -(-len(self.data.train_y) // cfg.batch_size)
        total_steps = epochs * batches_per_epoch
        show = not self.quiet and self.dist.is_main
        for epoch in progress(range(start_epoch, epochs), name, total=epochs,
                              initial=start_epoch, unit="epoch", enabled=show):
            t0 = time.perf_counter()
            model.train()
            if policy.on_epoch_start(model, epoch):  # new sub-net or permuted channels:
                model.to(device)                     # momentum restarts from zero
                opt = _optimizer(model, cfg)
            losses: dict[str, list[float]] = defaultdict(list)
            for x, y in progress(self.data.train_batches(cfg.batch_size, gen),
                                 f"epoch {epoch + 1}", total=batches_per_epoch, unit="batch",
                                 leave=False, lines=False, enabled=show):
                batch = len(y)  # before sharding: every rank then draws the same sub-nets
                x, y = self.dist.shard(x).to(device), self.dist.shard(y).to(device)
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
                opt.zero_grad(set_to_none=True)
                teacher = None
                for spec in policy.step_subnets(model, step, gen, batch):
                    model.set_subnet(spec)
                    out = model(x)
                    loss = subnet_loss(out, y, teacher, cfg.kd_weight, cfg.kd_temperature)
                    reg = policy.regularizer(model)
                    (loss if reg is None else loss + reg).backward()
                    policy.after_backward(model, spec)
                    if teacher is None and policy.distill:
                        teacher = out.detach()
                    losses[spec.name].append(float(loss.detach()))
                    self.cost.count_pass(name, spec.name, len(y), self.subnet_macs(model, spec))
                self.dist.average_gradients(model)
                opt.step()
                step += 1
            phase_cost = self.cost.phases[name]
            phase_cost["optimizer_steps"] += batches_per_epoch
            phase_cost["wall_s"] += time.perf_counter() - t0
            self._log_epoch(name, model, epoch + 1, losses)
            self.current = {"phase": name, "epochs_done": epoch + 1, "step": step,
                            "model": snapshot(model), "optimizer": opt.state_dict(),
                            "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                            "policy": policy.state_dict()}
            self._save()
            if self.epochs_left is not None:
                self.epochs_left -= 1
                if self.epochs_left <= 0 and (epoch + 1 < epochs):
                    raise StopTraining(name)
        self.done[name] = {"model": snapshot(model), "policy": policy.state_dict()}
        self.current = None
        self._save()

    def _log_epoch(self, phase: str, model: DynamicNet, epoch: int,
                   losses: dict[str, list[float]]) -> None:
        wall = sum(v["wall_s"] for v in self.cost.phases.values())
        val = self.data.validation
        for spec in model.subnets:
            model.set_subnet(spec)
            acc = float("nan") if val is None else top1(model, val, device=self.config.device)
            seen = losses.get(spec.name, [])
            self.log.append({"phase": phase, "epoch": epoch, "subnet": spec.name,
                             "train_loss": sum(seen) / len(seen) if seen else float("nan"),
                             "val_top1_float": acc, "wall_s": wall})


_STATE_TYPES = {"config": dict, "cost": dict, "log": list, "done": dict, "current": dict | None}
_SNAPSHOT_TYPES = {"subnets": list, "state_dict": dict, "masks": dict}


def _check_state(state: dict[str, Any], path: Path) -> None:
    """The shape of a training state (types of its fields and snapshots); one-line errors."""

    def expect(value: Any, kind: Any, where: str) -> None:
        if not isinstance(value, kind):
            raise PimsimError(f"{path}: {where}: not what a training state holds")

    for key, kind in _STATE_TYPES.items():
        if key not in state:
            raise PimsimError(f"{path}: missing key {key!r}: not a pimsim training state")
        expect(state[key], kind, key)
    cost = state["cost"]
    for key in ("subnets", "phases"):
        expect(cost.get(key), dict, f"cost.{key}")
    for phase, per_subnet in cost["subnets"].items():
        expect(per_subnet, dict, f"cost.subnets.{phase}")
        for counters in per_subnet.values():
            expect(counters, dict, f"cost.subnets.{phase}")
    for phase, counters in cost["phases"].items():
        expect(counters, dict, f"cost.phases.{phase}")
    for i, row in enumerate(state["log"]):
        expect(row, dict, f"log[{i}]")
    snapshots = {f"done.{k}": v for k, v in state["done"].items()}
    if state["current"] is not None:
        snapshots["current"] = state["current"]
    for where, entry in snapshots.items():
        expect(entry, dict, where)
        expect(entry.get("model"), dict, f"{where}.model")
        for key, kind in _SNAPSHOT_TYPES.items():
            expect(entry["model"].get(key), kind, f"{where}.model.{key}")


def _optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum over all parameters."""
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, nesterov=True)
