"""``TrainConfig``: everything a training run depends on, validated before anything is written."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pimsim.errors import PimsimError
from pimsim.network import ARCHS, SubnetSpec, load_specs

METHOD_NAMES = ("individual", "uniform", "multi-path", "single-path", "ast")
DEFAULT_TARGETS = [0.25, 0.5, 0.75, 1.0]
# Single-path: training MACs at most this times those of training the full model alone.
DEFAULT_COST_BUDGET = 1.3


@dataclass
class TrainConfig:
    """Options of ``pimsim train`` (same names, ``-`` for ``_``).

    ``input_size`` and ``num_classes`` shape the ``synthetic`` data set only.
    Targets: ``budgets`` are fractions of the full model's MACs (for ``ast``: weight
    densities); ``widths`` are uniform ratios (``uniform``, ``individual``); ``specs_file`` is
    a YAML/JSON list of explicit sub-net specs. Give at most one; default budgets/widths
    0.25, 0.5, 0.75, 1.0.
    """

    method: str = "uniform"
    arch: str = "resnet20"
    dataset: str = "digits"
    data_dir: str | None = None
    input_size: int = 224
    num_classes: int = 1000
    budgets: list[float] | None = None
    widths: list[float] | None = None
    specs_file: str | None = None
    epochs: int = 15
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    subnets_per_step: int | None = None
    sparse_epochs: int | None = None
    sparsity_weight: float = 1e-4
    fix_epochs: list[int] | None = None
    cost_budget: float | None = None
    mask_update_until: float = 0.5
    bits: int | None = None
    seed: int = 0
    device: str = "cpu"

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
        if self.specs_file is not None and self.method == "ast":
            raise PimsimError("--specs: ast trains sparse sub-nets: give --budgets (densities)")
        for name in ("budgets", "widths"):
            for v in getattr(self, name) or []:
                if not 0 < v <= 1:
                    raise PimsimError(f"--{name}: {v:g} is outside (0, 1]")
        checks = [("epochs", self.epochs >= 1), ("input_size", self.input_size >= 1),
                  ("num_classes", self.num_classes >= 1), ("batch_size", self.batch_size >= 1),
                  ("lr", self.lr > 0), ("momentum", 0 <= self.momentum < 1),
                  ("weight_decay", self.weight_decay >= 0),
                  ("kd_weight", 0 <= self.kd_weight <= 1),
                  ("kd_temperature", self.kd_temperature > 0),
                  ("subnets_per_step", self.subnets_per_step is None
                   or self.subnets_per_step >= 1),
                  ("sparse_epochs", self.sparse_epochs is None or self.sparse_epochs >= 1),
                  ("sparsity_weight", self.sparsity_weight >= 0),
                  ("mask_update_until", 0 <= self.mask_update_until <= 1),
                  ("bits", self.bits in (None, 8, 16)),
                  ("fix_epochs", all(0 <= e < self.epochs for e in self.fix_epochs or [])),
                  ("cost_budget", self.cost_budget in (None, 0) or self.cost_budget >= 1)]
        for name, ok in checks:
            if not ok:
                raise PimsimError(f"--{name.replace('_', '-')}: invalid value "
                                  f"{getattr(self, name)!r}")

    def targets(self) -> list[float | SubnetSpec]:
        """The run's targets: budgets (floats) or explicit specs."""
        if self.specs_file is not None:
            return list(load_specs(self.specs_file))
        if self.widths is not None:
            return [SubnetSpec.uniform(w) for w in self.widths]
        if self.budgets is None and self.method in ("uniform", "individual"):
            return [SubnetSpec.uniform(w) for w in DEFAULT_TARGETS]
        return list(self.budgets or DEFAULT_TARGETS)

    def resolved(self) -> dict:
        """The config as stored in the run state, with defaults that depend on others filled."""
        data = asdict(self)
        if data["subnets_per_step"] is None:
            data["subnets_per_step"] = 2 if self.method == "single-path" else 4
        if data["cost_budget"] is None and self.method == "single-path":
            data["cost_budget"] = DEFAULT_COST_BUDGET
        if data["sparse_epochs"] is None:
            data["sparse_epochs"] = max(1, self.epochs // 3)
        return data
