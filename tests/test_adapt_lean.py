"""The lean layers DA3 trains through: 1-bit ReLU masks (gradient bit for bit torch's, saved
bytes the packed size), per-domain BatchNorm, the spatial attention's channel max."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pimsim.adapt import SavedTensorMeter
from pimsim.adapt.lean import (
    DomainBatchNorm2d,
    MaskReLU,
    estimate_statistics,
    pack_bits,
    unpack_bits,
)
from pimsim.adapt.modules import AttentionAdaptor, DA3Design, DA3Unit, channel_max


@pytest.mark.parametrize("shape", [(3, 5, 7, 2), (16,), (2, 8)])
def test_pack_bits_round_trip(shape):
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(1)) > 0.5
    packed = pack_bits(mask)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(mask.numel() / 8)
    assert torch.equal(unpack_bits(packed, mask.shape), mask)
    # bit j of byte i is element 8 i + j
    first = sum(int(mask.reshape(-1)[j]) << j for j in range(min(8, mask.numel())))
    assert int(packed[0]) == first


def test_mask_relu_gradient_is_torchs_bit_for_bit_and_saves_one_bit_per_value():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, 5, generator=g)
    x[0, 0, 0, :3] = 0.0  # ties at zero: torch's ReLU passes no gradient there
    grad = torch.randn(4, 3, 5, 5, generator=g)
    grad[1, 1, 1, 1] = float("nan")  # where y = 0 torch gives 0, not nan * 0
    x[1, 1, 1, 1] = -1.0
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    relu = MaskReLU()
    meter = SavedTensorMeter(relu)
    with meter.measuring():
        y = relu(a)
    (da,) = torch.autograd.grad(y, a, grad)
    (db,) = torch.autograd.grad(torch.relu(b), b, grad)
    assert torch.equal(y, torch.relu(x))
    assert torch.equal(da.view(torch.int32), db.view(torch.int32))  # bit for bit
    assert meter.bytes == math.ceil(x.numel() / 8) == 38


def test_domain_batchnorm_starts_as_the_source_and_reestimates_the_domain():
    bn = nn.BatchNorm2d(3).eval()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, -1.0]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, 0.5]))
        bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    x = torch.randn(6, 3, 4, 4) * 3 + 1
    layer = DomainBatchNorm2d(bn, bias=True, reestimate=True)
    torch.testing.assert_close(layer(x), bn(x))
    model = nn.Sequential(layer)
    assert estimate_statistics(model, x, batch_size=4)  # two batches, pooled exactly
    torch.testing.assert_close(layer.running_mean, x.mean((0, 2, 3)))
    torch.testing.assert_close(layer.running_var, x.var((0, 2, 3), unbiased=False))
    ref = nn.BatchNorm2d(3, eps=bn.eps).train()
    with torch.no_grad():
        ref.weight.copy_(bn.weight)
        ref.bias.copy_(bn.bias)
    torch.testing.assert_close(layer(x), ref(x), rtol=1e-5, atol=1e-5)  # batch statistics
    assert not estimate_statistics(nn.Sequential(DomainBatchNorm2d(bn)), x)


def test_trained_batchnorm_bias_saves_nothing_gain_saves_the_input():
    bn = nn.BatchNorm2d(3).eval()
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    for gain, expected in ((False, 0), (True, x.numel() * 4 + 3 * 4)):  # x, scale * g
        layer = DomainBatchNorm2d(bn, bias=True, gain=gain)
        meter = SavedTensorMeter(layer)
        with meter.measuring():
            y = layer(x)
        assert meter.bytes == expected
        y.sum().backward()
        torch.testing.assert_close(layer.bias.grad, torch.full((3,), 32.0))


def test_channel_max_saves_a_small_index_and_routes_the_gradient():
    x = torch.tensor([[[[1.0, -2.0]], [[3.0, -1.0]], [[0.0, -5.0]]]], requires_grad=True)
    meter = SavedTensorMeter(nn.Identity())
    with meter.measuring():
        m = channel_max(x)
    assert m.flatten().tolist() == [3.0, -1.0] and meter.bytes == 2  # two uint8 indices
    m.backward(torch.tensor([[[[10.0, 20.0]]]]))
    assert x.grad[:, :, 0].tolist() == [[[0.0, 0.0], [10.0, 20.0], [0.0, 0.0]]]


def test_spatial_attention_by_hand():
    """s = conv3x3([mean_c x; max_c x]) with only the centre taps set: s = 2 mean + 1 max + b;
    "sum" adds a_c + s_hw, "product" a_c * s_hw; the gate's bound uses max_hw of that term."""
    x = torch.tensor([[[[1.0, 3.0]], [[-1.0, 5.0]]]])  # mean (0, 4), max (1, 5)
    for mode, a_c, term in (("sum", [0.5, 1.5], [[[2.0, 14.0]], [[3.0, 15.0]]]),
                            ("product", [1.0, 2.0], [[[1.5, 13.5]], [[3.0, 27.0]]])):
        ad = AttentionAdaptor(2, 2, 1, mode)
        with torch.no_grad():
            ad.spatial.weight.zero_()
            ad.spatial.weight[0, :, 1, 1] = torch.tensor([2.0, 1.0])
            ad.spatial.bias.fill_(0.5)
            ad.fc2.bias.copy_(torch.tensor(a_c))  # W2 = 0: a = b2
        a, s = ad(x)
        assert s.flatten().tolist() == [1.5, 13.5]
        assert ad.term(a, s)[0].tolist() == term
        assert ad.upper(a, s)[0].tolist() == ([14.0, 15.0] if mode == "sum" else [13.5, 27.0])


def test_da3_unit_with_every_option_starts_as_the_frozen_path():
    conv = nn.Conv2d(3, 4, 3, 2, 1, bias=False)
    bn = nn.BatchNorm2d(4).eval()
    x = torch.randn(2, 3, 6, 6)
    for spatial in ("none", "sum", "product"):
        unit = DA3Unit(conv, bn, DA3Design(spatial=spatial, bn_gain=True))
        with torch.no_grad():
            torch.testing.assert_close(unit(x), bn(conv(x)))
