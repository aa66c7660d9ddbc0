"""The layer-op registry: each op is declared once, the tracer recognises ops through it, and
no module outside it dispatches on op names."""

import re
from pathlib import Path

import pytest
import torch
import torch.fx as fx
from torch import nn

import pimsim
from pimsim.geometry import Gemm, conv_macs, conv_output_hw, linear_macs
from pimsim.quantize import OPS, LayerOp
from pimsim.quantize.ops import recognise, recognise_module

PACKAGE = Path(pimsim.__file__).parent


def test_every_op_is_registered_once_and_documented():
    assert set(OPS) == {"input", "conv", "linear", "add", "relu", "maxpool", "avgpool",
                        "flatten"}
    assert all(isinstance(op, LayerOp) and op.name == name for name, op in OPS.items())
    assert {n for n, op in OPS.items() if op.has_weights} == {"conv", "linear"}
    assert {n for n, op in OPS.items() if op.defines_scale} == {"input", "conv", "linear", "add"}
    fmt = (PACKAGE / "quantize" / "FORMAT.md").read_text()
    assert all(f"`{name}`" in fmt for name in OPS)


@pytest.mark.parametrize(("module", "name"), [
    (nn.Conv2d(4, 4, 3, groups=4), "conv"), (nn.Linear(3, 2), "linear"), (nn.ReLU(), "relu"),
    (nn.MaxPool2d(2), "maxpool"), (nn.AvgPool2d(2), "avgpool"),
    (nn.AdaptiveAvgPool2d(1), "avgpool"), (nn.Flatten(), "flatten")])
def test_modules_are_recognised_by_their_op(module, name):
    assert recognise_module(module) is OPS[name]
    assert recognise_module(nn.Sigmoid()) is None


def test_functions_and_methods_are_recognised():
    class Net(nn.Module):
        def forward(self, x):
            y = torch.relu(x) + x.relu()
            return torch.flatten(y, 1).add(y.flatten(1))

    kinds = [recognise(n, None) for n in fx.symbolic_trace(Net()).graph.nodes
             if n.op != "output"]
    assert [op.name for op in kinds] == ["input", "relu", "relu", "add", "flatten", "flatten",
                                         "add"]


def test_weight_ops_give_their_gemm_and_macs():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4)
    gemm = OPS["conv"].module_gemm(conv, 8, 16, (9, 9), conv_output_hw((9, 9), (3, 3), (2, 2),
                                                                       (1, 1)), "c")
    assert gemm == Gemm(8, 16, (3, 3), (2, 2), (1, 1), (9, 9), (5, 5), 4)
    assert (gemm.group_c_out, gemm.reduction, gemm.pixels) == (4, 2 * 9, 25)
    assert gemm.macs == conv_macs(5, 5, 16, 8, 3, 3, 4) == 5 * 5 * 16 * 2 * 9
    fc = OPS["linear"].module_gemm(nn.Linear(7, 3), 7, 3, (1, 1), (1, 1), "fc")
    assert fc.macs == linear_macs(7, 3) == 21 and fc.reduction == 7
    assert OPS["relu"].gemm(None) is None  # no weights, no GEMM


def test_no_op_name_dispatch_outside_the_registry():
    """An op-name test (``op == "conv"``, ``op in ("conv", ...)``) belongs in the registry."""
    names = "|".join(OPS)
    pattern = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({names})["']""")
    offenders = [f"{path.relative_to(PACKAGE)}:{i}: {line.strip()}"
                 for path in PACKAGE.rglob("*.py") if path.name != "ops.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []
