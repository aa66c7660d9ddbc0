"""Depthwise and grouped convolutions end to end: a MobileNet-style user model is traced,
quantized, executed in integers, run bit-exactly through the PIM kernel and costed."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from pimsim.device import gemm_events, load_device_params
from pimsim.device.layer_events import Tiling
from pimsim.errors import PimsimError
from pimsim.mapper import load_mapping, map_family
from pimsim.network.counting import layer_table
from pimsim.quantize import IntGraph, calibrate, export_quantized, quantize_model
from pimsim.simulate import family_costs, layers_from_graph, layers_from_module, run_pim
from pimsim.simulate.pim_execute import check_events
from tests.conftest import randomize_batchnorm
from tests.test_quantize import assert_equivalent

ROWS, COLS = 64, 32


def mobilenet_block() -> nn.Sequential:
    """Stem, a depthwise-separable block (depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN +
    ReLU), a grouped conv (groups=2, stride 2), global pooling, linear."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),       # 0-2
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),               # 6-8
        nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=2), nn.ReLU(),               # 9-10
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))                     # 11-13


# H_out * W_out * C_out * (C_in / groups) * K_h * K_w, by hand, for 3x8x8 images
HAND_MACS = {"0": 8 * 8 * 8 * (3 // 1) * 3 * 3,
             "3": 8 * 8 * 8 * (8 // 8) * 3 * 3,
             "6": 8 * 8 * 16 * (8 // 1) * 1 * 1,
             "9": 4 * 4 * 16 * (16 // 2) * 3 * 3,
             "13": 16 * 10}
GROUPS = {"0": 1, "3": 8, "6": 1, "9": 2, "13": 1}


@pytest.fixture(scope="module", params=[8, 16])
def quantized(request):
    torch.manual_seed(0)
    model = mobilenet_block().eval()
    randomize_batchnorm(model)
    fq = quantize_model(model, request.param, "mobile")
    x = torch.rand(48, 3, 8, 8) * 2 - 1
    calibrate(fq, x.split(16))
    return model, fq, export_quantized(fq, (3, 8, 8), "mobile"), x


def test_traced_exported_and_executed_in_integers(quantized):
    model, fq, graph, x = quantized
    convs = {layer.modules[0]: layer for layer in graph.compute_layers()}
    assert {name: layer.groups for name, layer in convs.items()} == GROUPS
    assert convs["3"].weight.shape == (8, 1, 3, 3) and convs["9"].weight.shape == (16, 8, 3, 3)
    assert convs["3"].modules == ("3", "4") and convs["3"].relu  # BN and ReLU fused
    assert_equivalent(fq, graph, x)  # integer executor == fake-quantized torch model


def test_pim_kernel_is_bit_exact_with_closed_form_events(quantized):
    _, _, graph, x = quantized
    xq = graph.quantize_input(x[:5].numpy())
    out, events = run_pim(graph, xq, ROWS, COLS)
    np.testing.assert_array_equal(out, graph.run_int(xq))
    layers = layers_from_graph(graph)
    check_events(graph, layers, events, 5, ROWS, COLS)
    dw = next(layer for layer in graph.compute_layers() if layer.groups == 8)
    per_group = gemm_events(Tiling(1, 9, graph.bits, graph.bits, ROWS, COLS), 5 * 8 * 8)
    assert events[dw.name] == per_group * 8


def test_costed_macs_equal_the_hand_count(quantized):
    model, _, graph, _ = quantized
    layers = layers_from_graph(graph)
    assert {layer.name: layer.macs for layer in layers} == HAND_MACS
    subnets, table = family_costs({"mobile": layers}, load_device_params(), load_mapping())
    assert dict(zip(table.layer, table.macs, strict=True)) == HAND_MACS
    assert int(subnets.macs.iloc[0]) == sum(HAND_MACS.values())
    counted = layer_table(model, (3, 8, 8)).set_index("layer").macs
    assert {name: int(counted[name]) for name in HAND_MACS} == HAND_MACS
    # the float model, cost only, gives the same GEMMs
    plain = layers_from_module(model, (3, 8, 8), graph.bits)
    assert [(p.name, p.groups, p.macs, p.c_in, p.c_out) for p in plain] == \
        [(g.name, g.groups, g.macs, g.c_in, g.c_out) for g in layers]


def test_each_group_gets_its_own_subarrays(quantized):
    _, _, graph, _ = quantized
    layers = layers_from_graph(graph)
    mapping = load_mapping()
    fmap = map_family({"mobile": layers}, mapping)
    rows, cols = mapping.chip.rows, mapping.chip.cols
    dw = next(layer for layer in layers if layer.groups == 8)
    assert dw.subarrays(rows, cols) == 8 * dw.tiling(rows, cols).subarrays == 8
    ids = [fmap.placements[layer.name].subarray_ids(layer) for layer in layers]
    assert sum(len(i) for i in ids) == len(frozenset().union(*ids)) == fmap.total_subarrays
    assert len(ids[1]) == 8
    _, table = family_costs({"mobile": layers}, load_device_params(), mapping)
    util = dict(zip(table.layer, table.utilization, strict=True))
    assert util["3"] < util["6"]  # one 9-column channel per sub-array: the waste shows


def test_groups_round_trip_and_old_files_default_to_one(quantized, tmp_path):
    _, _, graph, x = quantized
    _, manifest = graph.save(tmp_path / "mobile")
    loaded = IntGraph.load(tmp_path / "mobile")
    assert [layer.groups for layer in loaded.layers] == [layer.groups for layer in graph.layers]
    xq = graph.quantize_input(x[:4].numpy())
    np.testing.assert_array_equal(loaded.run_int(xq), graph.run_int(xq))
    doc = json.loads(manifest.read_text())
    del doc["sha256"], doc["arrays_sha256"]  # files written before `groups` have no checksums
    for layer in doc["layers"]:  # written before `groups` existed: dense layers lack it
        if layer["groups"] == 1:
            del layer["groups"]
    manifest.write_text(json.dumps(doc))
    assert [layer.groups for layer in IntGraph.load(tmp_path / "mobile").layers] == \
        [layer.groups for layer in graph.layers]
    del doc["layers"][2]["groups"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(PimsimError, match=r"layers\[2\].*weight: shape \(8, 1, 3, 3\)"):
        IntGraph.load(tmp_path / "mobile")  # the depthwise layer now reads as groups=1
    doc["layers"][2]["groups"] = 0
    manifest.write_text(json.dumps(doc))
    with pytest.raises(PimsimError, match=r"layers\[2\].*groups: must be a positive integer"):
        IntGraph.load(tmp_path / "mobile")
