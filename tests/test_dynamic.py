"""Run-time switching, export and reordering of every model family."""

import pytest
import torch

from pimsim.network import ARCHS, DynamicNet, SubnetSpec, reorder_by_importance
from pimsim.network.ops import SlimConv2d
from tests.conftest import randomize_batchnorm

INPUT = {"resnet20": 16, "resnet32": 16, "resnet56": 8, "resnet18": 32, "resnet34": 32,
         "resnet50": 32}


def _family(arch: str) -> DynamicNet:
    """A model with two uniform and two non-uniform (random per-group counts) sub-nets."""
    probe = DynamicNet(arch, 7, 3)
    g = torch.Generator().manual_seed(1)
    rand = [tuple(int(torch.randint(1, w + 1, (1,), generator=g)) for w in probe.group_widths)
            for _ in range(2)]
    specs = [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.5),
             SubnetSpec("nu_a", counts=rand[0]), SubnetSpec("nu_b", counts=rand[1])]
    torch.manual_seed(0)
    model = DynamicNet(arch, 7, 3, specs).eval()
    randomize_batchnorm(model)
    return model


@pytest.mark.parametrize("arch", ARCHS)
def test_export_equals_dynamic_model_in_every_subnet(arch):
    model = _family(arch)
    x = torch.randn(2, 3, INPUT[arch], INPUT[arch])
    outputs = {}
    for spec in model.subnets:
        model.set_subnet(spec)
        outputs[spec.name] = model(x)
        static = model.export_subnet(spec).eval()
        assert not any(isinstance(m, SlimConv2d) for m in static.modules())
        assert all(p.is_contiguous() for p in static.parameters())
        torch.testing.assert_close(static(x), outputs[spec.name], rtol=1e-4, atol=1e-5)
    # the sub-nets really differ, so the comparison above could fail
    assert not torch.allclose(outputs["w1"], outputs["w0.5"], atol=1e-3)
    # the classifier's class count never shrinks, the image channels never shrink
    assert outputs["nu_a"].shape == (2, 7)
    assert model.export_subnet("nu_b").conv1.in_channels == 3


@pytest.mark.parametrize("arch", ["resnet20", "resnet50"])
def test_set_subnet_allocates_and_copies_no_weights(arch):
    model = _family(arch)
    before = {n: (p.data_ptr(), p.shape) for n, p in model.named_parameters()}
    for spec in model.subnets:
        model.set_subnet(spec)
        assert model.active == spec
    model.set_subnet("nu_a")
    assert {n: (p.data_ptr(), p.shape) for n, p in model.named_parameters()} == before


@pytest.mark.parametrize("arch", ["resnet20", "resnet18", "resnet50"])
def test_reordering_by_importance_keeps_every_subnet_function(arch):
    model = _family(arch)
    x = torch.randn(2, 3, INPUT[arch], INPUT[arch])
    before = {}
    for spec in model.subnets:
        model.set_subnet(spec)
        before[spec.name] = model(x)
    perms = reorder_by_importance(model)
    assert any(not torch.equal(p, torch.arange(len(p))) for p in perms)
    for spec in model.subnets:
        model.set_subnet(spec)
        torch.testing.assert_close(model(x), before[spec.name], rtol=1e-4, atol=1e-5)


def test_reordering_makes_importance_decreasing_along_the_full_model():
    torch.manual_seed(0)
    model = DynamicNet("resnet20", 10, 3).eval()  # only the full model: one segment per group
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 16, 16)
    y = model(x)
    reorder_by_importance(model)
    torch.testing.assert_close(model(x), y, rtol=1e-4, atol=1e-5)
    from pimsim.network import channel_importance

    for imp in channel_importance(model):
        assert torch.all(imp[:-1] >= imp[1:])


def test_reordering_keeps_registered_prefix_sets():
    from pimsim.network.reorder import importance_order

    imp = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.3, 0.8])
    order = importance_order(imp, keep=[2, 6])
    assert sorted(order[:2].tolist()) == [0, 1]  # the 2-channel sub-net keeps its channels
    assert order.tolist() == [1, 0, 5, 3, 2, 4]
