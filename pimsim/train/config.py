"""Training configuration: ``TrainConfig`` (the options as given, validated before anything is
written) and ``RunConfig`` (resolved: defaults that depend on other fields filled in, one
frozen options record per method), which the engine and the methods read."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from pimsim.errors import PimsimError
from pimsim.network import ARCHS, DynamicNet, SubnetSpec, load_specs
from pimsim.network.counting import check_input_size
from pimsim.network.dynamic import MAX_CLASSES

METHOD_NAMES = ("individual", "uniform", "multi-path", "single-path", "ast")
DEFAULT_TARGETS = (0.25, 0.5, 0.75, 1.0)
# Single-path: training MACs at most this times those of training the full model alone.
DEFAULT_COST_BUDGET = 1.3
# Single-path: what a smaller sub-net's share of that budget counts (SinglePathPolicy).
BUDGET_SHARES = ("samples", "macs")
# Multi-path: L1 weight on the BatchNorm scales a budget's retrain drops (large enough that they
# fall below the pruning threshold within a few epochs; 1e-4, network slimming's value for a
# penalty on every channel, leaves 98 % of their sum in place).
DEFAULT_SPARSITY_WEIGHT = 0.2
FLOAT_OPTIONS = ("lr", "momentum", "weight_decay", "kd_weight", "kd_temperature",
                 "sparsity_weight", "cost_budget", "mask_update_until", "validation")


@dataclass(frozen=True)
class RunSettings:
    """The options every method shares (the fields of both :class:`TrainConfig` and the
    resolved :class:`RunConfig`).

    ``input_size`` and ``num_classes`` shape the ``synthetic`` data set only.
    Targets: ``budgets`` are fractions of the full model's MACs (for ``ast``: weight
    densities); ``widths`` are uniform ratios (``uniform``, ``individual``); ``specs_file`` is
    a YAML/JSON list of explicit sub-net specs. Give at most one; default budgets/widths
    0.25, 0.5, 0.75, 1.0. ``validation``: the fraction of the training data held out (seeded,
    per class) for the per-epoch log and for tuning, so the test set is used only for the
    final results; ``train_samples``: train on this many of the remaining images (None: all).
    """

    method: str = "uniform"
    arch: str = "resnet20"
    dataset: str = "digits"
    data_dir: str | None = None
    input_size: int = 224
    num_classes: int = 1000
    budgets: tuple[float, ...] | None = None
    widths: tuple[float, ...] | None = None
    specs_file: str | None = None
    epochs: int = 15
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    bits: int | None = None
    seed: int = 0
    device: str = "cpu"
    validation: float = 0.1
    train_samples: int | None = None


@dataclass(frozen=True)
class TrainConfig(RunSettings):
    """Options of ``pimsim train`` (same names, ``-`` for ``_``): the shared settings and the
    methods' own options; ``None``: the default, which may depend on the method (see
    :meth:`resolved`). Lists become tuples."""

    subnets_per_step: int | None = None
    sparse_epochs: int | None = None
    sparsity_weight: float | None = None
    fix_epochs: tuple[int, ...] | None = None
    cost_budget: float | None = None
    budget_share: str | None = None
    mask_update_until: float = 0.5

    def __post_init__(self) -> None:
        for name in ("budgets", "widths", "fix_epochs"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))

    def validate(self) -> None:
        if self.method not in METHOD_NAMES:
            raise PimsimError(f"--method: unknown method {self.method!r}; choose one of "
                              f"{', '.join(METHOD_NAMES)}")
        if self.arch not in ARCHS:
            raise PimsimError(f"--model: unknown model {self.arch!r}; choose one of "
                              f"{', '.join(ARCHS)}")
        given = [n for n in ("budgets", "widths", "specs_file") if getattr(self, n) is not None]
        if len(given) > 1:
            raise PimsimError(f"--{given[1].replace('_', '-')}: give only one of --budgets, "
                              "--widths, --specs")
        if self.widths is not None and self.method not in ("uniform", "individual"):
            raise PimsimError(f"--widths: only for the uniform and individual methods; "
                              f"use --budgets with {self.method}")
        for name in ("subnets_per_step", "sparse_epochs", "fix_epochs", "cost_budget",
                     "budget_share"):
            users = [m for m, kind in METHOD_OPTIONS.items()
                     if kind is not None and name in {f.name for f in fields(kind)}]
            if getattr(self, name) is not None and self.method not in users:
                raise PimsimError(f"--{name.replace('_', '-')}: not an option of "
                                  f"{self.method}; only of {', '.join(users)}")
        if self.specs_file is not None and self.method == "ast":
            raise PimsimError("--specs: ast trains sparse sub-nets: give --budgets (densities)")
        for name in ("budgets", "widths"):
            for v in getattr(self, name) or []:
                if not 0 < v <= 1:
                    raise PimsimError(f"--{name}: {v:g} is outside (0, 1]")
        for name in FLOAT_OPTIONS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise PimsimError(f"--{name.replace('_', '-')}: must be a finite number, "
                                  f"got {value}")
        checks = [("epochs", self.epochs >= 1), ("input_size", self.input_size >= 1),
                  ("num_classes", self.num_classes >= 1), ("batch_size", self.batch_size >= 1),
                  ("lr", self.lr > 0), ("momentum", 0 <= self.momentum < 1),
                  ("weight_decay", self.weight_decay >= 0),
                  ("kd_weight", 0 <= self.kd_weight <= 1),
                  ("kd_temperature", self.kd_temperature > 0),
                  ("subnets_per_step", self.subnets_per_step is None
                   or self.subnets_per_step >= 1),
                  ("sparse_epochs", self.sparse_epochs is None or self.sparse_epochs >= 1),
                  ("sparsity_weight", self.sparsity_weight is None
                   or self.sparsity_weight >= 0),
                  ("mask_update_until", 0 <= self.mask_update_until <= 1),
                  ("bits", self.bits in (None, 8, 16)),
                  ("validation", 0 <= self.validation < 1),
                  ("train_samples", self.train_samples is None or self.train_samples >= 1),
                  ("fix_epochs", all(0 <= e < self.epochs for e in self.fix_epochs or [])),
                  ("cost_budget", self.cost_budget in (None, 0) or self.cost_budget >= 1),
                  ("budget_share", self.budget_share in (None, *BUDGET_SHARES))]
        for name, ok in checks:
            if not ok:
                raise PimsimError(f"--{name.replace('_', '-')}: invalid value "
                                  f"{getattr(self, name)!r}")
        if self.dataset.split(":", 1)[0] == "synthetic":
            self._check_synthetic_size()

    def _check_synthetic_size(self) -> None:
        """``--num-classes`` at most ``MAX_CLASSES``; ``--input-size`` small enough for one
        image's training step (:func:`~pimsim.network.counting.check_input_size`); both before
        anything of their size is allocated."""
        if self.num_classes > MAX_CLASSES:
            raise PimsimError(f"--num-classes: at most {MAX_CLASSES:,}, got {self.num_classes}")
        check_input_size(DynamicNet(self.arch, self.num_classes, 3).body,
                         (3, self.input_size, self.input_size), kept=True)

    def targets(self) -> list[float | SubnetSpec]:
        """The run's targets: budgets (floats) or explicit specs."""
        if self.specs_file is not None:
            return list(load_specs(self.specs_file))
        if self.widths is not None:
            return [SubnetSpec.uniform(w) for w in self.widths]
        if self.budgets is None and self.method in ("uniform", "individual"):
            return [SubnetSpec.uniform(w) for w in DEFAULT_TARGETS]
        return list(self.budgets or DEFAULT_TARGETS)

    def resolved(self) -> RunConfig:
        """Validated, with defaults that depend on other fields filled in."""
        self.validate()
        common = {f.name: getattr(self, f.name) for f in fields(RunSettings)}
        kind = METHOD_OPTIONS[self.method]
        return RunConfig(**common, options=kind.from_config(self) if kind else None)


@dataclass(frozen=True)
class JointOptions:
    """``uniform``: sub-nets per step of the sandwich rule."""

    subnets_per_step: int

    @classmethod
    def from_config(cls, c: TrainConfig) -> JointOptions:
        return cls(c.subnets_per_step or 4)


@dataclass(frozen=True)
class MultiPathOptions:
    """``multi-path``: epochs and L1 weight (on the scales of the channels its budget drops) of
    each sub-net's sparsity retrain; sub-nets per step of the joint phase."""

    subnets_per_step: int
    sparse_epochs: int
    sparsity_weight: float

    @classmethod
    def from_config(cls, c: TrainConfig) -> MultiPathOptions:
        return cls(c.subnets_per_step or 4, c.sparse_epochs or max(1, c.epochs // 3),
                   DEFAULT_SPARSITY_WEIGHT if c.sparsity_weight is None else c.sparsity_weight)


@dataclass(frozen=True)
class SinglePathOptions:
    """``single-path``: the full model and up to ``subnets_per_step - 1`` smaller sub-nets per
    step, within ``cost_budget`` (0: no limit), shared by ``budget_share`` (``samples`` or
    ``macs``); ``fix_epochs`` (``None``: spread evenly)."""

    subnets_per_step: int
    fix_epochs: tuple[int, ...] | None
    cost_budget: float
    budget_share: str

    @classmethod
    def from_config(cls, c: TrainConfig) -> SinglePathOptions:
        return cls(c.subnets_per_step or 2, c.fix_epochs,
                   DEFAULT_COST_BUDGET if c.cost_budget is None else c.cost_budget,
                   c.budget_share or BUDGET_SHARES[0])


@dataclass(frozen=True)
class AstOptions:
    """``ast``: fraction of the epochs during which masks follow the weights' magnitudes."""

    mask_update_until: float

    @classmethod
    def from_config(cls, c: TrainConfig) -> AstOptions:
        return cls(c.mask_update_until)


MethodOptions = JointOptions | MultiPathOptions | SinglePathOptions | AstOptions | None

Options = TypeVar("Options", JointOptions, MultiPathOptions, SinglePathOptions, AstOptions)

# Each method's options record (None: no options of its own); its ``from_config`` fills in the
# defaults that depend on the method.
METHOD_OPTIONS: dict[str, type[Options] | None] = {
    "individual": None, "uniform": JointOptions, "multi-path": MultiPathOptions,
    "single-path": SinglePathOptions, "ast": AstOptions}


@dataclass(frozen=True)
class RunConfig(RunSettings):
    """A resolved training configuration: the shared settings and the method's own
    ``options``; what the engine and the methods read, and (as :meth:`to_dict`) what the run
    state and checkpoints store."""

    options: MethodOptions = None

    def method_options(self, kind: type[Options]) -> Options:
        """The method's options, which must be of ``kind``."""
        if not isinstance(self.options, kind):
            raise TypeError(f"{self.method}: options are {self.options!r}, not {kind.__name__}")
        return self.options

    def to_dict(self) -> dict[str, Any]:
        """One flat mapping (the method's options beside the common fields; lists)."""
        data = asdict(self)
        data |= data.pop("options") or {}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
