"""DA3 and the adaptation baselines: frozen backbone, measured memory, hand-computed adaptor,
gated channels on the chip, one-line errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pimsim.adapt import METHODS, SavedTensorMeter, TrainSettings, build_adapted, train_domain
from pimsim.adapt.lean import FrozenConv2d, MaskReLU
from pimsim.adapt.memory import saved_tensor_bytes
from pimsim.adapt.methods import da3_units
from pimsim.adapt.modules import DA3Unit
from pimsim.data.synthetic import load_synthetic
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.train import save_checkpoint
from tests.conftest import exit_code, randomize_batchnorm


@pytest.fixture(scope="module")
def backbone() -> nn.Module:
    torch.manual_seed(0)
    net = DynamicNet("resnet20", 10, 1)
    randomize_batchnorm(net)
    return net.export_subnet("w1").eval()


def tiny_data(n: int = 32):
    return load_synthetic((1, 8, 8), 10, train_size=n, test_size=16, seed=1)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_starts_as_the_backbone(backbone, method):
    """Zero-initialised adaptors, all-ones Piggyback masks, the copied head: an adapted model
    computes what the backbone computes before training."""
    x = torch.randn(4, 1, 8, 8)
    model = build_adapted(backbone, method, 10).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), backbone(x), rtol=1e-5, atol=1e-5)


def test_da3_training_leaves_the_backbone_bit_identical(backbone):
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    model = build_adapted(backbone, "da3", 10)
    domain_bn = (".bias", "running_mean", "running_var", "scale", "shift")  # per domain
    frozen = {k: v.clone() for k, v in model.state_dict().items()
              if ".adaptor." not in k and not k.startswith("fc.") and not k.endswith("bound")
              and not k.endswith(domain_bn)}
    assert sum(k.endswith(".conv.weight") for k in frozen) == 10  # the stem and 9 blocks'
    assert sum(k.endswith("source_weight") for k in frozen) == 21  # every BN's gamma
    adaptor = {k: v.clone() for k, v in model.state_dict().items() if ".adaptor." in k}
    train_domain(model, tiny_data(), TrainSettings(epochs=2, batch_size=16))
    after = model.state_dict()
    for k, v in frozen.items():
        assert torch.equal(after[k], v), k
    assert any(not torch.equal(after[k], v) for k, v in adaptor.items())  # it did train
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k]), k
    # the frozen convolutions hold the backbone's very weights
    conv = dict(model.named_modules())["layers.1.0.conv1.conv"]
    assert torch.equal(conv.weight, backbone.layers[1][0].conv1.weight)


def test_da3_saves_far_less_than_finetuning(backbone):
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    bytes_ = {m: saved_tensor_bytes(build_adapted(backbone, m, 10), x, y)
              for m in ("da3", "finetune")}
    ratio = bytes_["finetune"] / bytes_["da3"]
    print(f"saved-tensor bytes: finetune {bytes_['finetune']:,}, da3 {bytes_['da3']:,}, "
          f"ratio {ratio:.1f}x")
    assert ratio > 20  # 1-bit ReLU masks: about 30x at this size
    # DA3 keeps little beyond one byte per ReLU output after the first adaptor
    relu_elems = 16 * (16 * 64 * 6 + 32 * 16 * 6 + 64 * 4 * 6)  # stage1 from block 0's ReLU
    assert bytes_["da3"] < 1.2 * relu_elems


def test_frozen_conv_saves_no_activation():
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False).requires_grad_(False)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    frozen = FrozenConv2d(conv)
    stock, lean = SavedTensorMeter(conv), SavedTensorMeter(frozen)
    with stock.measuring():
        conv(x)
    with lean.measuring():
        y = frozen(x)
    assert stock.bytes == x.numel() * 4 and lean.bytes == 0
    g = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, g)
    (ref,) = torch.autograd.grad(conv(x), x, g)
    torch.testing.assert_close(dx, ref)


def test_one_block_adaptor_by_hand():
    """pre = BN(conv(x)) + W2 relu(W1 mean(x) + b1) + b2; L = sum(relu(pre)); every value
    below is worked out by hand in the comments."""
    conv = nn.Conv2d(1, 2, 1, bias=False)
    bn = nn.BatchNorm2d(2, eps=0.0).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
        bn.bias.copy_(torch.tensor([0.5, -0.5]))  # scale 1, shift (0.5, -0.5)
    unit = DA3Unit(conv, bn)
    fc1, fc2 = unit.adaptor.fc1, unit.adaptor.fc2  # hidden = max(4, 2 // 4) = 4
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0], [-1.0], [2.0], [0.0]]))
        fc1.bias.copy_(torch.tensor([0.0, 0.0, -1.0, 1.0]))
        fc2.weight.copy_(torch.tensor([[1.0, 0, 0, 1], [0, 1, 1, 0]]))
        fc2.bias.copy_(torch.tensor([0.0, -1.0]))
    x = torch.tensor([[1.0, 2.0], [3.0, -2.0]]).view(1, 1, 2, 2).requires_grad_(True)
    # s = 1; z = (1, -1, 1, 1); h = (1, 0, 1, 1); a = (2, 0)
    pre = unit(x)
    expected = torch.tensor([[[4.5, 6.5], [8.5, -1.5]], [[-1.5, -2.5], [-3.5, 1.5]]])
    torch.testing.assert_close(pre[0], expected)
    loss = MaskReLU()(pre).sum()
    assert loss.item() == 21.0
    loss.backward()
    # dL/da = positive pixels per channel = (3, 1)
    torch.testing.assert_close(fc2.bias.grad, torch.tensor([3.0, 1.0]))
    torch.testing.assert_close(fc2.weight.grad, torch.tensor([[3.0, 0, 3, 3], [1, 0, 1, 1]]))
    # dL/dh = W2^T (3, 1) = (3, 1, 1, 3), masked by z > 0: (3, 0, 1, 3); times s = 1
    torch.testing.assert_close(fc1.bias.grad, torch.tensor([3.0, 0, 1, 3]))
    torch.testing.assert_close(fc1.weight.grad, torch.tensor([[3.0], [0], [1], [3]]))
    # dL/dx = conv path (2, 2, 2, -1) + W1^T dL/dz / 4 = 5 / 4 per pixel
    torch.testing.assert_close(x.grad[0, 0], torch.tensor([[3.25, 3.25], [3.25, 0.25]]))
    assert conv.weight.grad is None  # the backbone gets no gradient


def test_gating_skips_channels_exactly_on_calibration_images(backbone):
    """After calibration a gated channel would have been zero anyway on the training images:
    the gated model's logits equal the ungated ones there."""
    from pimsim.adapt import calibrate_gates

    model = build_adapted(backbone, "da3", 10)
    data = tiny_data()
    with torch.no_grad():
        for unit in da3_units(model).values():
            unit.adaptor.fc2.bias.copy_(torch.linspace(-8, 1, unit.channels))
    model.eval()
    with torch.no_grad():
        ungated = model(data.train_x)
    calibrate_gates(model, data, TrainSettings())
    with torch.no_grad():
        gated = model(data.train_x)
    torch.testing.assert_close(gated, ungated)
    fractions = [u.active_fraction() for u in da3_units(model).values()]
    assert any((f < 1).any() for f in fractions)  # some channels were skipped


def test_a_gated_channel_costs_no_compute_events(backbone):
    """Gating conv1 of the first block to k channels costs exactly what a network whose layer
    has k channels costs (through DynamicNet's own sub-net machinery): the gated channels'
    sub-arrays do no compute events."""
    from pimsim.device import load_device_params
    from pimsim.mapper import load_mapping
    from pimsim.simulate import family_costs, layers_from_module, layers_of_subnets
    from pimsim.simulate.gating import gated_layers, gating_costs

    layers = layers_from_module(backbone, (1, 8, 8), 8)
    gated = gated_layers(layers, {"layers.0.0.conv1": 4.3})
    net = DynamicNet("resnet20", 10, 1)
    counts = [5 if g == "layer1.0.conv1" else w
              for g, w in zip(net.group_names, net.group_widths)]
    native = DynamicNet("resnet20", 10, 1, [SubnetSpec("k", counts=tuple(counts))])
    assert gated == layers_of_subnets(native, (8, 8), 8)["k"]
    params, mapping = load_device_params(), load_mapping()
    _, table = family_costs({"full": layers, "gated": gated}, params, mapping)
    compute = [c for c in table if c.startswith("energy_") and "leak" not in c
               and c not in ("energy_pj",)]
    rows = table.set_index(["subnet", "layer"])
    for name in ("layers.0.0.conv1", "layers.0.0.conv2"):
        assert rows.loc[("gated", name), "macs"] == rows.loc[("full", name), "macs"] * 5 / 16
        assert rows.loc[("gated", name), "energy_pj"] < rows.loc[("full", name), "energy_pj"]
    same = rows.loc["gated"].drop(index=["layers.0.0.conv1", "layers.0.0.conv2"])
    full = rows.loc["full"].drop(index=["layers.0.0.conv1", "layers.0.0.conv2"])
    assert (same[compute] == full[compute]).all().all()
    saved = gating_costs(layers, {"d": {"layers.0.0.conv1": 4.3}}, params, mapping)
    assert saved.energy_saved_pj.iloc[0] > 0
    nothing = gating_costs(layers, {"d": {"layers.0.0.conv1": 16.0}}, params, mapping)
    assert nothing.energy_saved_pj.iloc[0] == 0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "model.pt"
    net = DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.5)])
    save_checkpoint(path, net, (8, 8), "digits")
    return path


@pytest.mark.parametrize("extra, message", [
    (["--domains", "rotate", "--method", "da3,dropout"], "--method: unknown method 'dropout'"),
    (["--domains", "rotate,sepia"], "--domains: unknown domain 'sepia'"),
    (["--domains", "rotate", "--subnet", "w0.3"], "sub-net 'w0.3': unknown"),
    (["--domains", "mine={empty}"], "no class folders"),
])
def test_bad_input_is_one_line(checkpoint, tmp_path, capsys, extra, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    extra = [e.format(empty=empty) for e in extra]
    code = exit_code(["adapt", "--checkpoint", str(checkpoint), *extra,
                      "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_adapt_command_writes_csv_and_plot(checkpoint, tmp_path):
    import pandas as pd

    out = tmp_path / "out"
    assert exit_code(["adapt", "--checkpoint", str(checkpoint), "--subnet", "w0.5",
                      "--domains", "invert", "--method", "da3,finetune", "--epochs", "1",
                      "--train-limit", "32", "--out", str(out)]) == 0
    table = pd.read_csv(out / "adapt.csv")
    from pimsim.reports.columns import lookup

    undocumented = [c for c in table.columns
                    if lookup(c) is None or "adapt.csv" not in lookup(c).files]
    assert undocumented == [], "add them to pimsim/reports/columns.py"
    assert list(table.method) == ["da3", "finetune"]
    da3 = table.iloc[0]
    assert da3.memory_ratio_vs_finetune > 5 and da3.trainable_params < 20_000
    assert da3.energy_pj >= da3.energy_gated_pj
    assert 0 <= da3.top1_float <= 1 and table.subnet.eq("w0.5").all()
    assert (out / "adapt_memory.png").stat().st_size > 1000


def test_gate_penalty_turns_channels_off(backbone):
    """With the optional gate penalty, training leaves channels that gating skips; without it
    the loss is the paper's (no penalty is even computed)."""
    data = tiny_data()
    plain = build_adapted(backbone, "da3", 10)
    train_domain(plain, data, TrainSettings(epochs=1, batch_size=16))
    assert all(u.penalty is None for u in da3_units(plain).values())
    model = build_adapted(backbone, "da3", 10)
    run = train_domain(model, data, TrainSettings(epochs=3, batch_size=16, lr=0.5,
                                                  gate_penalty=1.0))
    channels = sum(u.channels for u in da3_units(model).values())
    assert sum(run.active_channels.values()) < 0.9 * channels
