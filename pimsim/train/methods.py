"""Sub-net generation methods: individual, uniform (CA-DNN), multi-path, single-path, ast.

Each method trains through ``Run.phase`` and returns the trained models with the sub-nets to
report: ``[(model, [specs...]), ...]`` (one model for the weight-sharing methods, one per
sub-net for ``individual``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from pimsim.errors import PimsimError
from pimsim.network import (
    DynamicNet,
    MacModel,
    SubnetSpec,
    channel_importance,
    reorder_by_importance,
)
from pimsim.network.ops import SlimConv2d, SlimLinear, SwitchableBatchNorm2d
from pimsim.network.reorder import permute_channels
from pimsim.train.ast import ASTPolicy
from pimsim.train.bn_calibration import copy_bn_from
from pimsim.train.budgets import budget_name, prune_to_budget
from pimsim.train.config import (
    AstOptions,
    JointOptions,
    MultiPathOptions,
    RunConfig,
    SinglePathOptions,
)
from pimsim.train.engine import Policy, Run

Target = float | SubnetSpec
Trained = list[tuple[DynamicNet, list[SubnetSpec]]]


class JointPolicy(Policy):
    """Sandwich rule (Yu & Huang, ICCV 2019): each step trains the largest sub-net, the
    smallest, and ``per_step - 2`` others drawn at random; all when ``per_step`` >= their
    number; with ``per_step`` = 2, the largest and one other drawn at random. The largest
    (by MACs) goes first and is the distillation teacher."""

    def __init__(self, per_step: int, macs: MacModel) -> None:
        self.per_step, self.macs = per_step, macs

    def ordered(self, model: DynamicNet) -> list[SubnetSpec]:
        return sorted(model.subnets, key=lambda s: -self.macs.macs(model.counts(s)))

    def step_subnets(self, model: DynamicNet, step: int, gen: torch.Generator,
                     samples: int) -> list[SubnetSpec]:
        order = self.ordered(model)
        if len(order) <= self.per_step:
            return order
        if self.per_step == 1:
            return order[:1]
        if self.per_step == 2:
            pick = int(torch.randint(1, len(order), (1,), generator=gen))
            return [order[0], order[pick]]
        middle = order[1:-1]
        pick = torch.randperm(len(middle), generator=gen)[:self.per_step - 2].sort().values
        return [order[0], *(middle[i] for i in pick.tolist()), order[-1]]


SCALE_THRESHOLD = 0.05
"""A BatchNorm scale with ``|gamma|`` below this is switched off (network slimming's pruning
threshold; scales start at 1)."""

MIN_GROUP_FRACTION = 0.1
"""multi-path keeps at least this fraction of each channel group (at least one channel): a
group is a residual stream or a block's inner width, and unbounded selection at 3 % of the
MACs left the last stage's stream at one channel in 4 of 10 digits-affine seeds, which ended
near 40 % (network slimming likewise caps the per-layer pruning ratio)."""


def bn_scale_importance(model: DynamicNet, subnet: int = 0) -> list[torch.Tensor]:
    """Per group: the sum of |gamma| of every BatchNorm on the group (network slimming)."""
    imp = [torch.zeros(w) for w in model.group_widths]
    for m in model.body.modules():
        if isinstance(m, SwitchableBatchNorm2d) and isinstance(m.group, int):
            gamma = m.bn[subnet].weight.detach().abs().cpu()
            imp[m.group][: len(gamma)] += gamma
    return imp


def fraction_below(model: DynamicNet, threshold: float = SCALE_THRESHOLD) -> float:
    """Fraction of the full model's BatchNorm scales (sliceable groups) with |gamma| below
    ``threshold``."""
    scales = [m.bn[0].weight.detach().abs() for m in model.body.modules()
              if isinstance(m, SwitchableBatchNorm2d) and isinstance(m.group, int)]
    flat = torch.cat(scales)
    return float((flat < threshold).float().mean())


def select_channels(macs: MacModel, upper: list[torch.Tensor], importance: list[torch.Tensor],
                    target_macs: float) -> list[torch.Tensor]:
    """Per group, the channels of ``upper`` (index tensors) that a budget of ``target_macs``
    keeps: ranked by ``importance`` (full-width tensors; ties by rank in ``upper``), counts
    from :func:`prune_to_budget`, never below ``MIN_GROUP_FRACTION`` of the group's full width
    (nor above ``upper``); each result is ordered most important first."""
    order = [u[torch.sort(-imp[u], stable=True).indices] for u, imp in
             zip(upper, importance, strict=True)]
    ranked = [imp[o] for imp, o in zip(importance, order, strict=True)]
    floors = tuple(min(len(u), max(1, math.ceil(MIN_GROUP_FRACTION * len(imp))))
                   for u, imp in zip(upper, importance, strict=True))
    counts = prune_to_budget(macs, tuple(len(u) for u in upper), ranked, target_macs, floors)
    return [o[:c] for o, c in zip(order, counts, strict=True)]


class BudgetSparsityPolicy(JointPolicy):
    """A budget's sparsity retrain: full-model training plus an L1 penalty on the BatchNorm
    scales of the channels that budget would drop (network slimming, Liu et al. ICCV 2017,
    aimed at one budget): at each epoch start, :func:`select_channels` on the current scales
    picks the channels the budget keeps; the others are penalised,
    ``weight * sum |gamma_c|``, and driven to zero."""

    def __init__(self, macs: MacModel, weight: float, target_macs: float) -> None:
        super().__init__(1, macs)
        self.weight, self.target_macs = weight, target_macs
        self.dropped: list[torch.Tensor] = []

    def on_epoch_start(self, model: DynamicNet, epoch: int) -> bool:
        full = [torch.arange(w) for w in model.group_widths]
        kept = select_channels(self.macs, full, bn_scale_importance(model), self.target_macs)
        self.dropped = []
        for w, k in zip(model.group_widths, kept, strict=True):
            mask = torch.ones(w)
            mask[k] = 0
            self.dropped.append(mask)
        return False

    def regularizer(self, model: DynamicNet) -> torch.Tensor:
        terms = [(m.bn[0].weight.abs() * self.dropped[m.group][: m.bn[0].num_features]
                  .to(m.bn[0].weight)).sum()
                 for m in model.body.modules()
                 if isinstance(m, SwitchableBatchNorm2d) and isinstance(m.group, int)]
        return self.weight * sum(terms)


def _fresh_model(cfg: RunConfig, data, specs: list[SubnetSpec]) -> DynamicNet:
    """A new model (seeded); fake-quantized at ``cfg.bits`` for quantization-aware
    training."""
    torch.manual_seed(cfg.seed)
    model = DynamicNet(cfg.arch, data.num_classes, data.in_channels, specs)
    if cfg.bits:
        from pimsim.quantize import prepare_qat

        prepare_qat(model, cfg.bits)
    return model


def _reset_active_slices(model: DynamicNet) -> None:
    """Re-initialise the weights a lone sub-net uses as a model of its own size would be
    (PyTorch's default Conv2d/Linear init, whose scale depends on the fan-in)."""
    counts_in_out = {m: m.sizes[0] for m in model.body.modules()
                     if isinstance(m, SlimConv2d | SlimLinear)}
    with torch.no_grad():
        for m, (cin, cout) in counts_in_out.items():
            w = torch.empty_like(m.weight[:cout, :cin])
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            m.weight[:cout, :cin] = w
            if isinstance(m, SlimLinear):
                bound = 1 / math.sqrt(cin)
                m.bias[:cout] = torch.empty(cout).uniform_(-bound, bound)


def resolve_targets(targets: list[Target], model: DynamicNet, macs: MacModel,
                    uniform: bool) -> list[SubnetSpec]:
    """Explicit specs pass through; budgets become uniform specs (``uniform``) or stay for
    importance-based selection later (returned specs are the explicit ones only)."""
    from pimsim.train.budgets import uniform_spec_for_budget

    out = []
    for t in targets:
        if isinstance(t, SubnetSpec):
            t.resolve(model.group_widths)
            out.append(t)
        elif uniform:
            out.append(uniform_spec_for_budget(model.group_widths, macs, t, budget_name(t)))
    return out


def train_individual(run: Run, targets: list[Target]) -> Trained:
    """Each sub-net architecture trained alone from scratch (the baseline)."""
    cfg, data = run.config, run.data
    probe = _fresh_model(cfg, data, [SubnetSpec.uniform(1.0)])
    specs = resolve_targets(targets, probe, MacModel(probe, data.image_hw), uniform=True)
    trained = []
    for spec in specs:
        model = _fresh_model(cfg, data, [spec])
        _reset_active_slices(model)
        run.phase(f"individual/{spec.name}", model, cfg.epochs,
                  JointPolicy(1, MacModel(model, data.image_hw)))
        trained.append((model, [spec]))
    return trained


def train_uniform(run: Run, targets: list[Target]) -> Trained:
    """CA-DNN: uniform widths trained jointly, sandwich rule, inplace distillation."""
    cfg, data = run.config, run.data
    probe = _fresh_model(cfg, data, [SubnetSpec.uniform(1.0)])
    macs = MacModel(probe, data.image_hw)
    specs = resolve_targets(targets, probe, macs, uniform=True)
    specs.sort(key=lambda s: -macs.macs(s.resolve(probe.group_widths)))
    model = _fresh_model(cfg, data, specs)
    opts = cfg.method_options(JointOptions)
    run.phase("joint", model, cfg.epochs, JointPolicy(opts.subnets_per_step, macs))
    return [(model, specs)]


def _full_spec() -> SubnetSpec:
    return SubnetSpec(budget_name(1.0), ratio=1.0)


def _ordered_targets(targets: list[Target], model: DynamicNet,
                     macs: MacModel) -> list[Target]:
    """Targets without the full model, largest first."""
    full = macs.macs(model.group_widths)

    def size(t: Target) -> float:
        return macs.macs(t.resolve(model.group_widths)) / full if isinstance(t, SubnetSpec) \
            else t
    return sorted((t for t in targets if size(t) < 1.0), key=size, reverse=True)


def _fix_subnet(model: DynamicNet, macs: MacModel, target: Target,
                importance: list[torch.Tensor]) -> SubnetSpec:
    """The next (smaller) nested sub-net: explicit counts, or the budget met by pruning the
    current smallest sub-net's channels in order of ``importance``."""
    upper = min((model.counts(s) for s in model.subnets), key=macs.macs)
    if isinstance(target, SubnetSpec):
        counts = target.resolve(model.group_widths)
        if any(c > u for c, u in zip(counts, upper, strict=True)):
            raise PimsimError(f"sub-net {target.name!r}: counts: exceed the next larger "
                              "sub-net's, so the sub-nets would not nest")
        name = target.name
    else:
        counts = prune_to_budget(macs, upper, importance, target * macs.macs(model.group_widths))
        name = budget_name(target)
    spec = SubnetSpec(name, counts=tuple(counts))
    parent = model.index_of(min(model.subnets, key=lambda s: macs.macs(model.counts(s))))
    model.register_subnet(spec)
    copy_bn_from(model, parent, model.index_of(spec))
    return spec


def nested_order(selections: list[list[torch.Tensor]], widths: tuple[int, ...],
                 background: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per group, the channel permutation that makes every selection (largest first, each a
    subset of the one before) a prefix: the smallest selection in its own ranking, then what
    each larger one adds in its ranking, then the rest by ``background`` importance."""
    perms = []
    for g, width in enumerate(widths):
        order: list[int] = []
        seen: set[int] = set()
        rest = torch.sort(-background[g], stable=True).indices
        for chosen in [*(sel[g] for sel in reversed(selections)), rest]:
            new = [c for c in chosen.tolist() if c not in seen]
            order += new
            seen.update(new)
        perms.append(torch.tensor(order[:width]))
    return perms


def train_multi_path(run: Run, targets: list[Target]) -> Trained:
    """Multi-path (Yang & Fan, ASP-DAC 2021): a background (full) model; per sub-net, largest
    first, a retrain from the background model aimed at that sub-net's budget
    (:class:`BudgetSparsityPolicy`) whose BatchNorm scales select its channels; then the
    nested family, channels permuted so each sub-net is a prefix, trained jointly.

    Nesting rule: a sub-net selects, by its own retrain's ranking, among the channels the next
    larger sub-net kept (the larger selection is a superset); its counts meet its budget within
    those channels. An explicit spec (counts given) runs no retrain: it keeps, within the next
    larger selection, the channels of largest background scales. ``run.notes["multi-path"]``
    records per sub-net the fraction of scales below :data:`SCALE_THRESHOLD` before and after
    its retrain and the overlap of the kept channels with those its retrain alone selects."""
    cfg, data = run.config, run.data
    opts = cfg.method_options(MultiPathOptions)
    model = _fresh_model(cfg, data, [_full_spec()])
    macs = MacModel(model, data.image_hw)
    run.phase("background", model, cfg.epochs, JointPolicy(1, macs))
    background = {k: v.clone() for k, v in model.state_dict().items()}
    base_importance = bn_scale_importance(model)
    before = fraction_below(model)
    full_macs = macs.macs(model.group_widths)
    upper = [torch.arange(w) for w in model.group_widths]
    selections, specs, notes = [], [_full_spec()], {}
    for target in _ordered_targets(targets, model, macs):
        if isinstance(target, SubnetSpec):
            counts = target.resolve(model.group_widths)
            if any(c > len(u) for c, u in zip(counts, upper, strict=True)):
                raise PimsimError(f"sub-net {target.name!r}: counts: exceed the next larger "
                                  "sub-net's, so the sub-nets would not nest")
            kept = [u[torch.sort(-imp[u], stable=True).indices][:c]
                    for u, imp, c in zip(upper, base_importance, counts, strict=True)]
            specs.append(target)
        else:
            name = budget_name(target)
            sparse = _fresh_model(cfg, data, [_full_spec()])
            sparse.load_state_dict(background)
            run.phase(f"sparsify/{name}", sparse, opts.sparse_epochs,
                      BudgetSparsityPolicy(macs, opts.sparsity_weight, target * full_macs))
            importance = bn_scale_importance(sparse)
            own = select_channels(macs, [torch.arange(w) for w in model.group_widths],
                                  importance, target * full_macs)
            kept = select_channels(macs, upper, importance, target * full_macs)
            shared = sum(len(set(k.tolist()) & set(o.tolist())) for k, o in
                         zip(kept, own, strict=True))
            notes[name] = {"scales_below_threshold_before": before,
                           "scales_below_threshold_after": fraction_below(sparse),
                           "kept_overlap_with_own_selection": shared / sum(map(len, own))}
            specs.append(SubnetSpec(name, counts=tuple(len(k) for k in kept)))
        selections.append(kept)
        upper = kept
    permute_channels(model, nested_order(selections, model.group_widths, base_importance))
    for spec in specs[1:]:
        parent = len(model.subnets) - 1
        model.register_subnet(spec)
        copy_bn_from(model, parent, model.index_of(spec))
    run.notes["multi-path"] = {"threshold": SCALE_THRESHOLD, **notes}
    run.phase("joint", model, cfg.epochs, JointPolicy(opts.subnets_per_step, macs))
    return [(model, specs)]


class SinglePathPolicy(JointPolicy):
    """Single-path: at each fix epoch, reorder channels by current importance (within the
    prefixes of sub-nets already fixed) and fix the next sub-net, largest first; all fixed
    sub-nets keep training jointly with distillation from the full model.

    Each step trains the full model (the teacher) and up to ``per_step - 1`` fixed smaller
    sub-nets: those with the smallest share so far (ties: the smaller first), so a sub-net
    fixed late catches up. ``share``: ``"samples"`` counts training samples (every sub-net gets
    about as many steps), ``"macs"`` counts the MACs spent on the sub-net (samples x its MACs:
    each gets an equal share of the extra MACs, so a sub-net of half the MACs gets about twice
    the steps). Cost budget: a sub-net joins the step only while the MACs spent stay within
    ``cost_budget`` times those of training the full model alone (``spent + samples * macs(s)
    <= cost_budget * sum_steps samples * macs(full)``); 0 means no limit.
    """

    def __init__(self, per_step: int, macs: MacModel, targets: list[Target],
                 fix_epochs: list[int], cost_budget: float, share: str = "samples") -> None:
        super().__init__(per_step, macs)
        self.targets, self.fix_epochs, self.share = targets, fix_epochs, share
        self.cost_budget = cost_budget or math.inf
        self.fixed = 0
        self.spent = self.baseline = 0
        self.trained: dict[str, int] = {}

    def step_subnets(self, model: DynamicNet, step: int, gen: torch.Generator,
                     samples: int) -> list[SubnetSpec]:
        full, *others = self.ordered(model)
        weight = (lambda s: self.macs.macs(model.counts(s))) if self.share == "macs" \
            else (lambda s: 1)
        others.sort(key=lambda s: (self.trained.get(s.name, 0) * weight(s),
                                   self.macs.macs(model.counts(s))))
        cost = self.macs.macs(model.counts(full)) * samples
        self.baseline += cost
        self.spent += cost
        chosen = [full]
        for spec in others[:self.per_step - 1]:
            cost = self.macs.macs(model.counts(spec)) * samples
            if self.spent + cost <= self.cost_budget * self.baseline:
                chosen.append(spec)
                self.spent += cost
                self.trained[spec.name] = self.trained.get(spec.name, 0) + samples
        return chosen

    def on_epoch_start(self, model: DynamicNet, epoch: int) -> bool:
        changed = False
        while self.fixed < len(self.targets) and self.fix_epochs[self.fixed] <= epoch:
            reorder_by_importance(model)
            _fix_subnet(model, self.macs, self.targets[self.fixed], channel_importance(model))
            self.fixed += 1
            changed = True
        return changed

    def state_dict(self) -> dict[str, Any]:
        return {"fixed": self.fixed, "spent": self.spent, "baseline": self.baseline,
                "trained": dict(self.trained)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fixed, self.spent, self.baseline = state["fixed"], state["spent"], state["baseline"]
        self.trained = dict(state["trained"])


def default_fix_epochs(epochs: int, n: int) -> list[int]:
    """Fix epochs spread evenly over the first half of training (0-based epoch index at
    whose start each sub-net is fixed): round(E * (0.2 + 0.3 * i / max(n - 1, 1)))."""
    return [min(epochs - 1, round(epochs * (0.2 + 0.3 * i / max(n - 1, 1)))) for i in range(n)]


def train_single_path(run: Run, targets: list[Target]) -> Trained:
    """Single-path: all sub-nets from one training round."""
    cfg, data = run.config, run.data
    opts = cfg.method_options(SinglePathOptions)
    model = _fresh_model(cfg, data, [_full_spec()])
    macs = MacModel(model, data.image_hw)
    ordered = _ordered_targets(targets, model, macs)
    fix = opts.fix_epochs or default_fix_epochs(cfg.epochs, len(ordered))
    if len(fix) != len(ordered):
        raise PimsimError(f"--fix-epochs: expected {len(ordered)} epochs (one per sub-net "
                          f"below the full model), got {len(fix)}")
    policy = SinglePathPolicy(opts.subnets_per_step, macs, ordered, sorted(fix),
                              opts.cost_budget, opts.budget_share)
    run.phase("single-path", model, cfg.epochs, policy)
    return [(model, model.subnets)]


def train_ast(run: Run, targets: list[Target]) -> Trained:
    """AST: sparse sub-nets of the given weight densities, one iteration each in turn."""
    cfg, data = run.config, run.data
    densities = sorted({float(t) for t in targets}, reverse=True)
    opts = cfg.method_options(AstOptions)
    policy = ASTPolicy(densities, round(cfg.epochs * opts.mask_update_until))
    model = _fresh_model(cfg, data, policy.specs())
    run.phase("ast", model, cfg.epochs, policy)
    return [(model, model.subnets)]


METHODS = {"individual": train_individual, "uniform": train_uniform,
           "multi-path": train_multi_path, "single-path": train_single_path, "ast": train_ast}
