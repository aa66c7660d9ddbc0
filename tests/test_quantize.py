"""Quantization: exact requantization, integer export == fake-quantized model for every model
family and for a user's own models, the file format, and clear errors."""

import copy
import json
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pimsim.data import load_digits
from pimsim.errors import PimsimError
from pimsim.network import ARCHS, DynamicNet, SubnetSpec
from pimsim.quantize import (
    IntGraph,
    calibrate,
    export_quantized,
    export_subnet_int,
    prepare_qat,
    quantize_model,
    quantize_multiplier,
    requantize,
)
from pimsim.quantize.manifest import manifest_sha256
from pimsim.quantize.requant import requantize_channels, requantize_sum
from tests.conftest import randomize_batchnorm


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: one thread is faster, and immune to a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- requantization -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(acc=st.integers(-(1 << 62) + 1, (1 << 62) - 1), mult=st.integers(0, (1 << 31) - 1),
       shift=st.integers(0, 62))
def test_requantize_is_exact_half_up_rounding(acc, mult, shift):
    exact = (acc * mult + ((1 << (shift - 1)) if shift else 0)) >> shift  # Python ints: floor
    assert exact == int(np.floor(Fraction(acc * mult, 1 << shift) + Fraction(1, 2)))
    got = int(requantize(np.array([acc]), mult, shift)[0])
    if abs(exact) < 1 << 32:
        assert got == exact
    else:  # saturated: same sign, beyond any 16-bit clamp
        assert abs(got) >= 1 << 32 and (got > 0) == (exact > 0)


def test_fused_requantizers_equal_requantize_then_clip():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 24), 1 << 24, (5, 3, 4, 2))
    bias = rng.integers(-1000, 1000, 5)
    mult, shift = quantize_multiplier(rng.uniform(1e-4, 1e-2, 5))
    got = requantize_channels(acc, bias, mult, shift, -128, 127)
    ref = np.clip(requantize(acc + bias[:, None, None, None], mult[:, None, None, None],
                             shift[:, None, None, None]), -128, 127)
    assert np.array_equal(got, ref) and 0 < (np.abs(got) == 128).mean() < 1
    a, b = rng.integers(-128, 128, (2, 6, 3, 4))
    ma, mb, sh = (1 << 30) + 12345, 1 << 29, 31
    expect = np.clip(requantize(a * ma + b * mb, 1, sh), 0, 255)
    for left, right in ((a, b), (a.transpose(1, 0, 2), b.transpose(1, 0, 2)),
                        (a.transpose(1, 0, 2), np.ascontiguousarray(b.transpose(1, 0, 2)))):
        out = requantize_sum(left, right, ma, mb, sh, 0, 255)
        assert np.array_equal(out, expect if left is a else expect.transpose(1, 0, 2))


@settings(max_examples=200, deadline=None)
@given(m=st.floats(2.0 ** -30, 2.0 ** 20, allow_nan=False),
       acc=st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=8))
def test_multiplier_is_within_2_pow_minus_31(m, acc):
    mult, shift = quantize_multiplier(np.array([m]))
    assert (1 << 30) <= mult[0] < (1 << 31)
    assert abs(Fraction(int(mult[0]), 1 << int(shift[0])) / Fraction(m) - 1) <= Fraction(1, 1 << 31)
    got = requantize(np.array(acc), mult, shift)
    want = [int(np.floor(Fraction(a * int(mult[0]), 1 << int(shift[0])) + Fraction(1, 2)))
            for a in acc]
    assert [int(g) for g in got if abs(g) < 1 << 32] == [w for w in want if abs(w) < 1 << 32]


# -- equivalence of the integer graph and the fake-quantized model --------------------------


def assert_equivalent(fake_quant: nn.Module, graph: IntGraph, x: torch.Tensor) -> None:
    """The fake-quantized model, in float32 and in float64, computes exactly the integer
    graph's logits (``q * step``); ``graph.run`` returns them scaled."""
    got = graph.run_int(graph.quantize_input(x.numpy()))
    step = graph.layer(graph.output).out_scale
    for dtype in (torch.float32, torch.float64):
        model = copy.deepcopy(fake_quant).to(dtype).eval()
        with torch.no_grad():
            want = model(x.to(dtype)).double().numpy()
        np.testing.assert_array_equal(np.rint(want / step), got, err_msg=str(dtype))
        assert np.abs(want / step - got).max() < 0.01  # on the grid, not merely rounding to it
    np.testing.assert_allclose(graph.run(x.numpy()), got * step)


def _calibrated(arch: str, bits: int, in_channels: int, hw: int,
                widths: tuple[float, ...] = (0.5, 0.25)) -> DynamicNet:
    torch.manual_seed(0)
    model = DynamicNet(arch, 10, in_channels, [SubnetSpec.uniform(w) for w in widths])
    randomize_batchnorm(model)
    prepare_qat(model, bits)
    for spec in model.subnets:
        model.set_subnet(spec)
        calibrate(model, [torch.rand(8, in_channels, hw, hw) for _ in range(2)])
    return model


BIG = ("resnet34", "resnet50", "resnet56")


@pytest.mark.parametrize("arch,bits", [
    pytest.param(a, 8, marks=[pytest.mark.slow] if a in BIG else []) for a in ARCHS
] + [("resnet20", 16), ("resnet18", 16)])
def test_every_family_exports_what_the_fake_quantized_model_computes(arch, bits):
    small = arch in ("resnet20", "resnet32", "resnet56")
    channels, hw, widths = (1, 8, (0.5, 0.25)) if small else (3, 16, (0.25, 0.125))
    model = _calibrated(arch, bits, channels, hw, widths)
    x = torch.rand(16, channels, hw, hw)
    for spec in model.subnets:
        graph = export_subnet_int(model, spec, (hw, hw))
        model.set_subnet(spec)
        assert_equivalent(model, graph, x)
        weights = graph.compute_layers()
        assert weights[0].weight.dtype == (np.int8 if bits == 8 else np.int16)
        assert all(abs(int(w.weight.max())) < 1 << (bits - 1) for w in weights)


def test_qat_training_checkpoint_reload_and_export(tmp_path):
    torch.manual_seed(0)
    specs = [SubnetSpec.uniform(0.5), SubnetSpec.uniform(0.25)]
    model = prepare_qat(DynamicNet("resnet20", 10, 1, specs), 8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    model.train()
    for _ in range(3):
        opt.zero_grad()
        for spec in specs:
            model.set_subnet(spec)
            nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert all(p.grad is not None for p in model.parameters())
    path = tmp_path / "qat.pt"
    torch.save(model.state_dict(), path)
    again = prepare_qat(DynamicNet("resnet20", 10, 1, specs), 8)
    assert list(again.state_dict()) == list(model.state_dict())
    again.load_state_dict(torch.load(path, weights_only=True))
    model.eval(), again.eval()
    for spec in specs:
        model.set_subnet(spec), again.set_subnet(spec)
        with torch.no_grad():
            assert torch.equal(model(x), again(x))
        plain = again.export_subnet(spec)
        assert not any("quant" in k for k in plain.state_dict())
        assert_equivalent(again, export_subnet_int(again, spec, (8, 8)), x)


# -- a user's own models ---------------------------------------------------------------------


class VGGish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=True), nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(),
                                        nn.Dropout(0.5), nn.Linear(32, 5))

    def forward(self, x):
        return self.classifier(self.features(x))


class TinyResNet(nn.Module):
    """torchvision style: ``out += identity``, functional relu, ``torch.flatten``."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        out = self.bn2(self.conv(x))
        out += x
        out = torch.relu(out)
        return self.fc(torch.flatten(self.pool(out), 1))


@pytest.mark.parametrize("cls", [VGGish, TinyResNet])
@pytest.mark.parametrize("bits", [8, 16])
def test_user_model_traces_quantizes_and_exports(cls, bits):
    torch.manual_seed(1)
    model = cls().eval()
    randomize_batchnorm(model)
    fq = quantize_model(model, bits, "user")
    x = torch.rand(64, 3, 8, 8) * 2 - 1  # signed input
    calibrate(fq, x.split(16))
    graph = export_quantized(fq, (3, 8, 8), "user")
    assert graph.input.out_signed
    assert_equivalent(fq, graph, x)
    with torch.no_grad():  # and the quantized model stays close to the float one
        ref, got = model(x), torch.from_numpy(graph.run(x.numpy())).float()
    tol = 0.1 if bits == 8 else 1e-3
    assert (got - ref).abs().max() <= tol * ref.abs().max()


class VGG8(nn.Module):
    """VGG-8-like: six 3x3 conv + BN + ReLU (two per stage, max-pooled), two linear layers."""

    def __init__(self, width: int = 32, classes: int = 10) -> None:
        super().__init__()
        layers, c_in = [], 3
        for i, c in enumerate((width, width, 2 * width, 2 * width, 4 * width, 4 * width)):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True)]
            if i % 2:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * 2 * 2, 8 * width),
                                        nn.ReLU(inplace=True), nn.Linear(8 * width, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def _calibrated_vgg8(bits: int) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    torch.manual_seed(3)
    model = VGG8().eval()
    randomize_batchnorm(model)
    fq = quantize_model(model, bits, "vgg8")
    x = torch.randn(24, 3, 16, 16)
    calibrate(fq, x.split(8))
    return model, fq, x


@pytest.mark.parametrize("bits", [8, 16])
def test_vgg8_fake_quant_equals_the_integer_graph_exactly(bits):
    """Wide accumulators (fan-in 1,152) where a float32 convolution's rounding used to move
    logits by up to two steps: the fake-quantized model now recomputes them exactly."""
    _, fq, x = _calibrated_vgg8(bits)
    graph = export_quantized(fq, (3, 16, 16), "vgg8")
    assert_equivalent(fq, graph, x)
    assert_equivalent(fq, graph, torch.randn(8, 3, 16, 16) * 3)  # inputs beyond the range


def test_quantize_model_and_calibrate_leave_eval_mode_so_export_is_stable():
    model, fq, x = _calibrated_vgg8(8)
    assert not any(m.training for m in fq.modules())
    before = export_quantized(fq, (3, 16, 16), "vgg8")
    with torch.no_grad():
        fq(torch.randn(16, 3, 16, 16) * 5)  # a call after calibration changes nothing
    after = export_quantized(fq, (3, 16, 16), "vgg8")
    for a, b in zip(before.layers, after.layers, strict=True):
        assert a.out_scale == b.out_scale
        for key in ("weight", "bias", "multiplier", "shift"):
            if getattr(a, key) is not None:
                np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert model.training is False and not any(m.training for m in model.modules())


def test_unsupported_operation_names_the_node():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(PimsimError, match=r"mine: node '_1' \(Sigmoid module '1'\): unsupported"):
        quantize_model(model, 8, "mine")
    dilated = nn.Sequential(nn.Conv2d(4, 4, 3, dilation=2))
    with pytest.raises(PimsimError, match="mine: node '_0'.*dilation=1"):
        quantize_model(dilated, 8, "mine")
    bn_alone = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1))
    with pytest.raises(PimsimError, match="BatchNorm must directly follow a Conv2d"):
        quantize_model(bn_alone, 8, "mine")
    fq = quantize_model(nn.Sequential(nn.Conv2d(3, 2, 1)), 8, "mine")
    with pytest.raises(PimsimError, match="no quantization range"):
        export_quantized(fq, (3, 4, 4), "mine")
    with pytest.raises(PimsimError, match="bits: must be 8 or 16"):
        quantize_model(nn.Sequential(nn.Conv2d(3, 2, 1)), 4)


# -- the file format -------------------------------------------------------------------------


def test_manifest_round_trips(tmp_path):
    model = _calibrated("resnet20", 8, 1, 8)
    graph = export_subnet_int(model, "w0.25", (8, 8), load_digits().preprocessing)
    npz, manifest = graph.save(tmp_path / "w0.25")
    assert npz.name == "w0.25.npz" and manifest.name == "w0.25.json"
    assert not list(tmp_path.glob(".*.tmp"))
    loaded = IntGraph.load(tmp_path / "w0.25")
    assert (loaded.name, loaded.bits, loaded.input_shape, loaded.output, loaded.meta) == \
        (graph.name, graph.bits, graph.input_shape, graph.output, graph.meta)
    # the export says how its input images are made: digits' stored 0..16 pixels / 16
    assert loaded.preprocessing == graph.preprocessing == {
        "formula": "x[c] = (raw[c] * scale - mean[c]) / std[c]", "scale": 1 / 16,
        "mean": [0.0], "std": [1.0]}
    for a, b in zip(graph.layers, loaded.layers, strict=True):
        for key, value in vars(a).items():
            other = getattr(b, key)
            if isinstance(value, np.ndarray):
                assert value.dtype == other.dtype and np.array_equal(value, other), key
            else:
                assert value == other, key
    x = np.random.default_rng(0).random((10, 1, 8, 8))
    assert np.array_equal(graph.run(x), loaded.run(x))
    doc = json.loads(manifest.read_text())
    conv = next(layer for layer in doc["layers"] if layer["op"] == "conv")
    assert {"in_bits", "in_signed", "stride", "padding", "in_shape", "out_shape"} <= set(conv)


def test_manifest_errors_name_file_and_field(tmp_path):
    graph = export_subnet_int(_calibrated("resnet20", 8, 1, 8), "w0.5", (8, 8))
    _, manifest = graph.save(tmp_path / "g")
    doc = json.loads(manifest.read_text())
    doc["layers"][1]["weight"] = "nope"
    doc["sha256"] = manifest_sha256(doc)  # edited, checksum renewed
    manifest.write_text(json.dumps(doc))
    with pytest.raises(PimsimError, match=r"g\.json: layers\[1\] \(.*\): weight: array 'nope'"):
        IntGraph.load(tmp_path / "g")
    manifest.write_text("{}")
    with pytest.raises(PimsimError, match="format: not a pimsim.intgraph manifest"):
        IntGraph.load(manifest)
    with pytest.raises(PimsimError, match="cannot read"):
        IntGraph.load(tmp_path / "missing")


# -- the command -------------------------------------------------------------------------------


def test_quantize_command_exports_every_subnet(tmp_path, capsys):
    import argparse

    import pandas as pd

    from pimsim.commands.quantize import register
    from pimsim.train import save_checkpoint

    torch.manual_seed(0)
    model = DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(0.5), SubnetSpec.uniform(0.25)])
    save_checkpoint(tmp_path / "model.pt", model, (8, 8), "digits")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["quantize", "--checkpoint", str(tmp_path / "model.pt"),
                              "--bits", "8", "--calib-batches", "1", "--out",
                              str(tmp_path / "q")])
    args.func(args)
    table = pd.read_csv(tmp_path / "q" / "quantize.csv")
    assert list(table.subnet) == ["w0.5", "w0.25"]
    assert (table.agreement >= 0.995).all() and (table.max_logit_steps <= 1).all()
    graph = IntGraph.load(tmp_path / "q" / "w0.25")
    assert graph.bits == 8 and graph.input_shape == (1, 8, 8)
    assert graph.preprocessing["scale"] == 1 / 16  # the checkpoint's data set's
    assert "w0.25" in capsys.readouterr().out
    args = parser.parse_args(["quantize", "--checkpoint", str(tmp_path / "model.pt"),
                              "--out", str(tmp_path / "r")])
    with pytest.raises(PimsimError, match="--bits: required"):
        args.func(args)


def test_subnets_registered_after_prepare_get_their_own_ranges():
    torch.manual_seed(0)
    model = prepare_qat(DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(1.0)]), 8)
    model.register_subnet(SubnetSpec.uniform(0.25))
    model.train()
    for spec in model.subnets:
        model.set_subnet(spec)
        model(torch.rand(8, 1, 8, 8))
    state = model.state_dict()
    assert state["body.quant.x.seen"].tolist() == [1.0, 1.0]
    again = prepare_qat(DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(1.0)]), 8)
    again.register_subnet(SubnetSpec.uniform(0.25))
    again.load_state_dict(state)
    assert torch.equal(again.body.quant["relu"].hi, model.body.quant["relu"].hi)
