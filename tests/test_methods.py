"""The five sub-net generation methods, resume, cost accounting, BN re-calibration, AST."""

import json
import math
from dataclasses import FrozenInstanceError, replace

import pandas as pd
import pytest
import torch
from torch import nn

from pimsim.commands import main
from pimsim.data import load_digits
from pimsim.errors import PimsimError
from pimsim.network import DynamicNet, MacModel, SubnetSpec, save_specs
from pimsim.train import TrainConfig, recalibrate_bn, run_training
from pimsim.train.ast import ASTPolicy, correct_gradient, magnitude_mask, scheduled_density
from pimsim.train.budgets import prune_to_budget, uniform_spec_for_budget
from pimsim.train.checkpoint import save_sealed
from pimsim.train.config import AstOptions, JointOptions, MultiPathOptions, SinglePathOptions
from pimsim.train.engine import StopTraining
from pimsim.train.methods import (
    MIN_GROUP_FRACTION,
    SinglePathPolicy,
    nested_order,
    select_channels,
)
from tests.conftest import exit_code

TINY = {"epochs": 3, "batch_size": 64}


@pytest.mark.parametrize("method", ["individual", "uniform", "multi-path", "single-path", "ast"])
def test_each_method_runs_end_to_end(tmp_path, method):
    budgets = [0.3, 1.0] if method != "ast" else [0.5, 1.0]
    cfg = TrainConfig(method=method, budgets=budgets,
                      sparse_epochs=1 if method == "multi-path" else None, **TINY)
    run_training(cfg, tmp_path, quiet=True)
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 2 and table.top1_float.min() > 0.2  # 3 short epochs beat chance
    assert table.val_top1_float.min() > 0.2
    cost = json.loads((tmp_path / "cost.json").read_text())
    assert cost["optimizer_steps"] > 0 and cost["wall_s"] > 0
    assert cost["forward_passes"] == cost["backward_passes"] == table.train_steps.sum()
    small = table.sort_values(["macs", "weight_density"]).iloc[0]
    if method == "ast":
        assert small.weight_density < 0.55 and small.macs == table.macs.max()
    else:
        assert small.macs <= 0.3 * table.macs.max() + 1
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert {"phase", "epoch", "subnet", "train_loss", "val_top1_float"} <= set(log.columns)


def test_single_path_subnets_are_nested_prefixes_fixed_during_one_round(tmp_path):
    cfg = TrainConfig(method="single-path", budgets=[0.25, 0.5, 0.75], epochs=4,
                      fix_epochs=[1, 2, 3], batch_size=128)
    [(model, specs)] = run_training(cfg, tmp_path, quiet=True)
    counts = [model.counts(s) for s in specs]
    for bigger, smaller in zip(counts, counts[1:]):
        assert all(s <= b for s, b in zip(smaller, bigger))
    macs = MacModel(model, (8, 8))
    full = macs.macs(model.group_widths)
    for spec, budget in zip(specs[1:], [0.75, 0.5, 0.25]):
        assert macs.macs(model.counts(spec)) <= budget * full
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert set(log.phase) == {"single-path"}
    assert log.groupby("epoch").subnet.nunique().tolist() == [1, 2, 3, 4]
    cost = json.loads((tmp_path / "cost.json").read_text())
    assert cost["optimizer_steps"] == 4 * 10  # one round: 4 epochs of 1,212 / 128 batches
    # (1,347 training images less the 10 % validation split)


def test_single_path_policy_trains_the_least_trained_within_its_cost_budget():
    model = DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(w) for w in (1.0, 0.5, 0.25)])
    macs = MacModel(model, (8, 8))
    full, half, quarter = (macs.macs(model.counts(s)) for s in model.subnets)
    gen = torch.Generator().manual_seed(0)
    free = SinglePathPolicy(2, macs, [], [], cost_budget=0)  # no limit
    picks = [free.step_subnets(model, i, gen, 64) for i in range(4)]
    assert [[s.name for s in p] for p in picks] == [["w1", "w0.25"], ["w1", "w0.5"]] * 2
    tight = SinglePathPolicy(3, macs, [], [], cost_budget=1.2)
    for i in range(50):
        tight.step_subnets(model, i, gen, 64)
    assert tight.baseline == 50 * 64 * full
    assert 0 <= 1.2 * tight.baseline - tight.spent < 64 * half
    assert tight.spent == (tight.baseline + tight.trained["w0.5"] * half
                           + tight.trained["w0.25"] * quarter)


@pytest.mark.parametrize("budget", [1.0, 1.15, None])
def test_single_path_run_costs_at_most_its_budget(tmp_path, budget):
    cfg = TrainConfig(method="single-path", budgets=[0.25, 0.5, 1.0], fix_epochs=[0, 1],
                      cost_budget=budget, **TINY)
    run_training(cfg, tmp_path, quiet=True)
    cost = json.loads((tmp_path / "cost.json").read_text())
    budget = budget or 1.3  # the default
    assert budget - 0.05 < cost["cost_vs_full_model_training"] <= budget
    table = pd.read_csv(tmp_path / "results.csv")
    smaller = table[table.subnet != "b1"].train_steps
    assert (smaller == 0).all() if budget == 1.0 else (smaller > 0).all()


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("method, epochs", [
    ("single-path", 3), pytest.param("multi-path", 2, marks=pytest.mark.slow)])
def test_resume_is_exact(tmp_path, method, epochs):
    cfg = dict(method=method, budgets=[0.4, 1.0], epochs=epochs,
               sparse_epochs=1 if method == "multi-path" else None,
               fix_epochs=[1] if method == "single-path" else None, batch_size=128)
    run_training(TrainConfig(**cfg), tmp_path / "full", quiet=True)
    with pytest.raises(StopTraining):
        run_training(TrainConfig(**cfg), tmp_path / "cut", quiet=True, stop_after_epochs=2)
    assert not (tmp_path / "cut" / "results.csv").exists()
    with pytest.raises(PimsimError, match="holds a run already; pass --resume"):
        run_training(TrainConfig(**cfg), tmp_path / "cut", quiet=True)
    run_training(TrainConfig(**cfg), tmp_path / "cut", quiet=True, resume=True)
    a, b = _weights(tmp_path / "full" / "model.pt"), _weights(tmp_path / "cut" / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log_a = pd.read_csv(tmp_path / "full" / "train_log.csv")
    log_b = pd.read_csv(tmp_path / "cut" / "train_log.csv")
    pd.testing.assert_frame_equal(log_a.drop(columns="wall_s"), log_b.drop(columns="wall_s"))


def test_resume_refuses_a_changed_config(tmp_path):
    cfg = TrainConfig(widths=[0.5, 1.0], epochs=2, batch_size=256)
    with pytest.raises(StopTraining):
        run_training(cfg, tmp_path, quiet=True, stop_after_epochs=1)
    changed = replace(cfg, lr=0.2)
    with pytest.raises(PimsimError, match="config: lr: the run was started with 0.05, not 0.2"):
        run_training(changed, tmp_path, quiet=True, resume=True)
    # A state that also records options of other methods (as versions before the typed
    # configs wrote it) still resumes.
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    state["config"] |= {"mask_update_until": 0.5, "fix_epochs": None}
    save_sealed(tmp_path / "state.pt", state)  # edited, checksum renewed
    run_training(cfg, tmp_path, quiet=True, resume=True)
    assert (tmp_path / "results.csv").is_file()


def test_resolved_config_fills_each_methods_defaults_and_is_frozen():
    single = TrainConfig(method="single-path", epochs=7, fix_epochs=[1, 2]).resolved()
    assert single.options == SinglePathOptions(subnets_per_step=2, fix_epochs=(1, 2),
                                               cost_budget=1.3, budget_share="samples")
    assert TrainConfig(method="single-path", cost_budget=0).resolved().options.cost_budget == 0
    multi = TrainConfig(method="multi-path", epochs=7).resolved()
    assert multi.options == MultiPathOptions(subnets_per_step=4, sparse_epochs=2,
                                             sparsity_weight=0.2)
    assert TrainConfig(subnets_per_step=3).resolved().options == JointOptions(3)
    assert TrainConfig(method="ast", mask_update_until=0.25).resolved().options == \
        AstOptions(0.25)
    assert TrainConfig(method="individual").resolved().options is None
    # the stored form is one flat mapping of plain values, the method's options beside the rest
    flat = single.to_dict()
    assert flat["fix_epochs"] == [1, 2] and flat["cost_budget"] == 1.3 and flat["epochs"] == 7
    assert "sparse_epochs" not in flat and "options" not in flat
    with pytest.raises(TypeError, match="not MultiPathOptions"):
        single.method_options(MultiPathOptions)
    with pytest.raises(FrozenInstanceError):
        single.lr = 1.0
    with pytest.raises(PimsimError, match="--fix-epochs: invalid value"):
        TrainConfig(method="single-path", epochs=2, fix_epochs=[5]).resolved()
    # An option another method owns is refused, not silently dropped from the record.
    with pytest.raises(PimsimError, match="--fix-epochs: not an option of uniform; only of "
                                          "single-path"):
        TrainConfig(method="uniform", fix_epochs=[1]).resolved()
    with pytest.raises(PimsimError, match="--subnets-per-step: not an option of ast"):
        TrainConfig(method="ast", subnets_per_step=2).resolved()


def test_ast_correction_fires_on_conflict_only():
    prev = torch.tensor([1.0, 0.0, 0.0])
    conflicting = torch.tensor([-1.0, 1.0, 0.0])
    fixed, fired = correct_gradient(conflicting, prev)
    assert fired and torch.allclose(fixed, torch.tensor([0.0, 1.0, 0.0]))
    assert torch.dot(fixed, prev) == 0
    agreeing = torch.tensor([0.5, 1.0, 0.0])
    same, fired = correct_gradient(agreeing, prev)
    assert not fired and torch.equal(same, agreeing)
    assert correct_gradient(agreeing, None) == (agreeing, False)


def test_ast_policy_projects_against_the_previous_subnets_gradient():
    model = DynamicNet("resnet20", 10, 1, [SubnetSpec("d1", ratio=1.0),
                                            SubnetSpec("d0.5", ratio=1.0)])
    policy = ASTPolicy([1.0, 0.5], update_until_epoch=0)
    weights = [m.weight for m in model.masked_layers().values()]
    base = [torch.randn_like(w) for w in weights]
    for w, g in zip(weights, base):
        w.grad = g.clone()
    policy.after_backward(model, model.subnets[0])  # stores the first sub-net's gradient
    for w, g in zip(weights, base):
        w.grad = -g.clone()  # exactly opposed: must be projected to zero
    policy.after_backward(model, model.subnets[1])
    n = len(weights)  # every layer conflicts
    assert policy.fired == n and all(float(w.grad.abs().max()) < 1e-5 for w in weights)
    for w, g in zip(weights, base):
        w.grad = 2 * g.clone()  # the stored raw gradient is -g: conflicts again
    policy.after_backward(model, model.subnets[0])
    assert policy.fired == 2 * n
    for w, g in zip(weights, base):
        w.grad = 3 * g.clone()  # agrees with the stored 2g: untouched
    policy.after_backward(model, model.subnets[1])
    assert policy.fired == 2 * n and torch.equal(weights[0].grad, 3 * base[0])
    assert policy.checked == 3 * n


def test_ast_correction_acts_per_layer():
    """Two layers: the first conflicts with the previous sub-net's gradient, the second agrees
    strongly enough that one global projection would not fire at all."""
    model = nn.Sequential()
    model.masked_layers = lambda: {"a": layer_a, "b": layer_b}
    layer_a, layer_b = nn.Linear(2, 1, bias=False), nn.Linear(2, 1, bias=False)
    policy = ASTPolicy([1.0, 0.5], update_until_epoch=0)
    layer_a.weight.grad = torch.tensor([[1.0, 0.0]])
    layer_b.weight.grad = torch.tensor([[0.0, 10.0]])
    policy.after_backward(model, SubnetSpec("d1", ratio=1.0))
    layer_a.weight.grad = torch.tensor([[-1.0, 1.0]])  # conflicts on layer a only
    layer_b.weight.grad = torch.tensor([[0.0, 10.0]])
    assert float(correct_gradient(torch.tensor([-1.0, 1.0, 0.0, 10.0]),
                                  torch.tensor([1.0, 0.0, 0.0, 10.0]))[1]) == 0  # global: no
    policy.after_backward(model, SubnetSpec("d0.5", ratio=1.0))
    assert (policy.fired, policy.checked) == (1, 2)
    assert torch.equal(layer_a.weight.grad, torch.tensor([[0.0, 1.0]]))
    assert torch.equal(layer_b.weight.grad, torch.tensor([[0.0, 10.0]]))


def test_ast_mask_schedule_prunes_gradually_to_the_target():
    assert [scheduled_density(0.25, e, 4) for e in range(6)] == \
        [1.0, 0.25 + 0.75 * 0.75 ** 3, 0.25 + 0.75 * 0.5 ** 3, 0.25 + 0.75 * 0.25 ** 3, 0.25,
         0.25]


def test_magnitude_masks_nest():
    w = torch.randn(8, 4, 3, 3)
    sparse, dense = magnitude_mask(w, 0.2), magnitude_mask(w, 0.6)
    assert int(sparse.sum()) == 58 and int(dense.sum()) == 173  # ceil(0.2 * 288), ceil(0.6*288)
    assert torch.all(dense >= sparse)
    assert float(w.abs()[sparse.bool()].min()) >= float(w.abs()[~sparse.bool()].max())


def test_budget_to_specs():
    model = DynamicNet("resnet20", 10, 3)
    macs = MacModel(model, (32, 32))
    full = macs.macs(model.group_widths)
    spec = uniform_spec_for_budget(model.group_widths, macs, 0.25)
    got = macs.macs(spec.resolve(model.group_widths))
    assert got <= 0.25 * full
    bigger = SubnetSpec("x", ratio=spec.ratio + 0.02).resolve(model.group_widths)
    assert macs.macs(bigger) > 0.25 * full  # it is the widest that fits
    imp = [torch.linspace(1, 0, w) for w in model.group_widths]
    counts = prune_to_budget(macs, model.group_widths, imp, 0.5 * full)
    assert macs.macs(counts) <= 0.5 * full and min(counts) >= 1
    # greedy stops as soon as it fits: putting back the last channel dropped breaks the budget
    assert any(macs.macs(counts[:g] + (counts[g] + 1,) + counts[g + 1:]) > 0.5 * full
               for g in range(len(counts)) if counts[g] < model.group_widths[g])


def test_bn_recalibration_estimates_the_subnets_statistics():
    data = load_digits()
    torch.manual_seed(0)
    model = DynamicNet("resnet20", 10, 1)
    spec = SubnetSpec("half", ratio=0.5)
    recalibrate_bn(model, spec, data, batches=3, batch_size=100)
    idx = model.index_of(spec)
    conv = model.body.conv1
    with torch.no_grad():
        acts = torch.cat([torch.nn.functional.conv2d(x, conv.weight[:8], None, 1, 1)
                          for x, _ in data.train_batches(100, torch.Generator().manual_seed(0),
                                                         augment=False)][:3])
    bn = model.body.bn1.bn[idx]
    assert bn.num_features == 8
    torch.testing.assert_close(bn.running_mean, acts.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)


def _spec_file(tmp_path, counts, name="s"):
    path = tmp_path / "specs.yaml"
    save_specs(path, [SubnetSpec(name, counts=tuple(counts))])
    return path


@pytest.mark.parametrize("argv_tail, message", [
    (["--method", "nope"], "argument --method: invalid choice: 'nope'"),
    (["--budgets", "0.5,1.5"], "--budgets: 1.5 is outside (0, 1]"),
    (["--budgets", "0,1"], "--budgets: 0 is outside (0, 1]"),
    (["--method", "single-path", "--widths", "0.5"], "--widths: only for the uniform"),
    (["--method", "single-path", "--budgets", "0.5", "--fix-epochs", "9"],
     "--fix-epochs: invalid value"),
    (["--method", "single-path", "--cost-budget", "0.9"], "--cost-budget: invalid value 0.9"),
    (["--specs", "WIDE"], "counts[0]: 17 exceeds the group's width 16"),
    (["--specs", "SHORT"], "expected 12 channel counts"),
])
def test_bad_training_input_is_one_line_and_leaves_no_run_folder(tmp_path, capsys, argv_tail,
                                                                  message):
    wide = _spec_file(tmp_path, [17] + [4] * 11)
    (tmp_path / "short.yaml").write_text("subnets:\n- {name: s, counts: [4, 4]}\n")
    argv_tail = [str(wide) if a == "WIDE" else str(tmp_path / "short.yaml") if a == "SHORT"
                 else a for a in argv_tail]
    out = tmp_path / "run"
    assert exit_code(["train", "--epochs", "2", "--out", str(out), "--quiet", *argv_tail]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()





def test_eval_recalibrates_new_specs(tmp_path, capsys):
    run_training(TrainConfig(widths=[0.5, 1.0], epochs=2, batch_size=128), tmp_path,
                 quiet=True)
    path = tmp_path / "extra.yaml"
    save_specs(path, [SubnetSpec("w0.75", ratio=0.75)])
    csv = tmp_path / "eval.csv"
    assert main(["eval", "--checkpoint", str(tmp_path / "model.pt"), "--specs", str(path),
                 "--recalibrate-batches", "5", "--out", str(csv)]) == 0
    table = pd.read_csv(csv).set_index("subnet")
    assert "w0.75" in table.index and table.top1_float["w0.75"] > 0.5


def test_multi_path_retrains_select_their_own_channels_and_meet_their_budgets(tmp_path):
    """Each budget's retrain from the background model switches off (|gamma| < threshold) the
    scales of the channels its budget drops, selects its own channels, and those selections
    nest (the smaller within the larger) while meeting each budget to within one channel."""
    cfg = TrainConfig(method="multi-path", budgets=[0.25, 0.5, 1.0], epochs=2, sparse_epochs=2)
    run_training(cfg, tmp_path, quiet=True)
    notes = json.loads((tmp_path / "cost.json").read_text())["method_notes"]["multi-path"]
    for name in ("b0.5", "b0.25"):
        assert notes[name]["scales_below_threshold_before"] < 0.05
        assert notes[name]["scales_below_threshold_after"] >= 0.15  # the L1 retrain separates
        assert notes[name]["kept_overlap_with_own_selection"] >= 0.9
    assert notes["b0.25"]["scales_below_threshold_after"] > \
        notes["b0.5"]["scales_below_threshold_after"] + 0.1  # its own, smaller budget


def test_select_channels_follows_importance_and_meets_the_budget():
    model = DynamicNet("resnet20", 10, 1)
    macs = MacModel(model, (8, 8))
    full = macs.macs(model.group_widths)
    torch.manual_seed(0)
    imp_a = [torch.rand(w) for w in model.group_widths]
    imp_b = [torch.rand(w) for w in model.group_widths]
    everything = [torch.arange(w) for w in model.group_widths]
    sel_a = select_channels(macs, everything, imp_a, 0.5 * full)
    sel_b = select_channels(macs, everything, imp_b, 0.5 * full)
    assert any(set(a.tolist()) != set(b.tolist()) for a, b in zip(sel_a, sel_b))
    for sel, imp in ((sel_a, imp_a), (sel_b, imp_b)):
        counts = [len(k) for k in sel]
        assert macs.macs(counts) <= 0.5 * full
        # within one channel: adding back the best dropped channel of some layer overshoots
        assert any(macs.macs([c + (i == g) for i, c in enumerate(counts)]) > 0.5 * full
                   for g in range(len(counts)) if counts[g] < model.group_widths[g])
        for k, i in zip(sel, imp):  # kept channels are the most important, in order
            dropped = sorted(set(range(len(i))) - set(k.tolist()))
            assert torch.all(i[k][:-1] >= i[k][1:])
            assert not dropped or float(i[k].min()) >= float(i[dropped].max()) or len(k) == 1
    smaller = select_channels(macs, sel_a, imp_b, 0.25 * full)  # nested within sel_a
    assert all(set(s.tolist()) <= set(a.tolist()) for s, a in zip(smaller, sel_a))
    perms = nested_order([sel_a, smaller], model.group_widths, imp_a)
    for perm, big, small in zip(perms, sel_a, smaller):
        assert sorted(perm.tolist()) == list(range(len(perm)))
        assert set(perm[:len(small)].tolist()) == set(small.tolist())
        assert set(perm[:len(big)].tolist()) == set(big.tolist())


def test_select_channels_keeps_a_floor_of_every_group():
    """A group whose channels but one look unimportant still keeps MIN_GROUP_FRACTION of its full
    width (a one-channel residual stream collapsed multi-path's 3 % sub-nets); the others pay
    for it, and the floor never exceeds an upper (nested) selection."""
    model = DynamicNet("resnet20", 10, 1)
    macs = MacModel(model, (8, 8))
    full = macs.macs(model.group_widths)
    importance = [torch.ones(w) for w in model.group_widths]
    last = len(importance) - 4  # the last stage's residual stream (64 channels)
    importance[last] = torch.full((model.group_widths[last],), 1e-6)
    importance[last][0] = 1.0  # one strong channel, the rest switched off by the L1 retrain
    everything = [torch.arange(w) for w in model.group_widths]
    kept = select_channels(macs, everything, importance, 0.03 * full)
    floors = [math.ceil(MIN_GROUP_FRACTION * w) for w in model.group_widths]
    assert len(kept[last]) == floors[last] == 7
    assert all(len(k) >= f for k, f in zip(kept, floors, strict=True))
    upper = [e[:3] for e in everything]  # narrower than some floors
    assert all(len(k) <= 3 for k in select_channels(macs, upper, importance, 0.01 * full))
    assert prune_to_budget(macs, tuple(model.group_widths), importance, 0.0,
                           tuple(floors)) == tuple(floors)


def test_single_path_macs_share_gives_smaller_subnets_more_steps():
    model = DynamicNet("resnet20", 10, 1)
    macs = MacModel(model, (8, 8))
    counts = {}
    for share in ("samples", "macs"):
        policy = SinglePathPolicy(2, macs, [0.5, 0.25], [0, 0], 1.3, share)
        model = DynamicNet("resnet20", 10, 1)
        policy.on_epoch_start(model, 0)
        gen = torch.Generator().manual_seed(0)
        for step in range(300):
            policy.step_subnets(model, step, gen, 64)
        counts[share] = {k: v // 64 for k, v in policy.trained.items()}
        assert policy.spent <= 1.3 * policy.baseline
    assert abs(counts["samples"]["b0.5"] - counts["samples"]["b0.25"]) <= 2
    assert counts["macs"]["b0.25"] > 1.5 * counts["macs"]["b0.5"]
    assert sum(counts["macs"].values()) > sum(counts["samples"].values())


def test_validation_split_is_carved_from_training_data_per_class_and_seeded():
    data = load_digits()
    carved = data.carve(0.1)
    val = carved.validation
    assert len(val.test_y) + len(carved.train_y) == len(data.train_y)
    assert torch.equal(carved.test_x, data.test_x)  # the test set is untouched
    rows = {tuple(r.tolist()) for r in data.train_x.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in val.test_x.flatten(1))
    per_class = torch.bincount(val.test_y, minlength=10)
    want = torch.bincount(data.train_y, minlength=10) * 0.1
    assert torch.all((per_class - want).abs() <= 0.5 + 1e-9)
    again = data.carve(0.1, train_samples=300)
    assert torch.equal(again.validation.test_x, val.test_x) and len(again.train_y) == 300
    assert data.carve(0.0).validation is None
    assert torch.equal(data.carve(0.0).train_x, data.train_x)  # no split: the data as before
    with pytest.raises(PimsimError, match="--train-samples"):
        data.carve(0.1, train_samples=10_000)


def test_threads_option_sets_and_records_the_thread_count(tmp_path):
    before = torch.get_num_threads()
    try:
        assert main(["-q", "train", "--method", "individual", "--widths", "0.25", "--epochs", "1",
                     "--train-samples", "64", "--threads", "1", "--out", str(tmp_path)]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert json.loads((tmp_path / "cost.json").read_text())["threads"] == 1
