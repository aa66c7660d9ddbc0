"""MACs, parameters and activation sizes of a sub-net, per layer, from the shapes it really uses.

Convention (stated because peer tools differ, see shared/reference/hardware.md section 6):
MACs of a layer *as executed*: Conv2d ``H_out * W_out * C_out * (C_in / groups) * K_h * K_w``,
Linear ``in * out``; BatchNorm, ReLU, pooling and residual additions count no MACs.
Parameters: weights and biases of Conv2d/Linear, and BatchNorm's affine weight and bias.
Activations are counted per image in elements.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from pimsim.data.sizes import FLOAT_BYTES, MAX_TENSOR_BYTES, check_bytes
from pimsim.geometry import conv_macs, linear_macs
from pimsim.network.dynamic import DynamicNet
from pimsim.network.spec import SubnetSpec

SMALL_HW = 64  # images up to SMALL_HW x SMALL_HW: only their input is checked (no meta pass)
COLUMNS = ["layer", "type", "in_channels", "out_channels", "kernel", "stride", "in_hw", "out_hw",
           "macs", "params", "act_in", "act_out"]


def activation_bytes(model: nn.Module, input_shape: tuple[int, int, int],
                     kept: bool = False) -> int:
    """Float32 bytes of one ``(C, H, W)`` image's activations in ``model``: the largest input +
    output of one leaf module (a forward pass without gradients), or with ``kept`` the sum of
    every leaf module's output (what a training step keeps for the backward pass). Exact and
    allocation-free: the forward pass runs on the ``meta`` device (shapes only). A model that
    cannot run there (a data-dependent step) counts its input only."""
    c, h, w = input_shape
    meta = {n: torch.empty_like(t, device="meta")
            for n, t in (*model.named_parameters(), *model.named_buffers())}
    sizes: list[tuple[int, int]] = []

    def record(module: nn.Module, inputs: tuple, output: object) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
            sizes.append((inputs[0].numel(), output.numel()))

    handles = [m.register_forward_hook(record) for m in model.modules()
               if not list(m.children())]
    training = model.training
    try:
        with torch.no_grad():
            model.eval()
            functional_call(model, meta, (torch.empty(1, c, h, w, device="meta"),))
    except (RuntimeError, NotImplementedError):
        sizes = [(0, c * h * w)]
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    elements = sum(o for _, o in sizes) if kept else max((i + o for i, o in sizes), default=0)
    return max(elements, c * h * w) * FLOAT_BYTES


def check_input_size(model: nn.Module, input_shape: tuple[int, int, int],
                     kept: bool = False) -> None:
    """Refuse an image too large for one forward pass (or with ``kept``, one training step:
    :func:`activation_bytes` over ``MAX_TENSOR_BYTES``), before anything of its size is
    allocated; one line naming ``--input-size`` (``--in-channels`` when the image is at most
    ``SMALL_HW`` square: such an image is refused only for its input's own size)."""
    c, h, w = input_shape
    small = h * w <= SMALL_HW * SMALL_HW
    if not small or c * h * w * FLOAT_BYTES > MAX_TENSOR_BYTES:
        step = "a training step on " if kept else ""
        check_bytes(activation_bytes(model, input_shape, kept),
                    f"{step}one {h}x{w} image ({c} channels) through the model",
                    "--in-channels" if small else "--input-size")


def layer_table(model: nn.Module, input_shape: tuple[int, int, int]) -> pd.DataFrame:
    """One row per Conv2d/Linear/BatchNorm2d of a plain model run on one ``(C, H, W)`` image
    (refused first if too large: :func:`check_input_size`)."""
    check_input_size(model, input_shape)
    rows: list[dict] = []

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            x = inputs[0]
            in_hw = f"{x.shape[2]}x{x.shape[3]}" if x.dim() == 4 else ""
            out_hw = f"{output.shape[2]}x{output.shape[3]}" if output.dim() == 4 else ""
            params = sum(p.numel() for p in module.parameters(recurse=False))
            row = {"layer": name, "type": type(module).__name__, "in_hw": in_hw,
                   "out_hw": out_hw, "params": params, "act_in": x[0].numel(),
                   "act_out": output[0].numel(), "kernel": "", "stride": ""}
            if isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                row.update(in_channels=module.in_channels, out_channels=module.out_channels,
                           kernel=f"{kh}x{kw}", stride=module.stride[0],
                           macs=conv_macs(output.shape[2], output.shape[3],
                                            module.out_channels, module.in_channels, kh, kw,
                                            module.groups))
            elif isinstance(module, nn.Linear):
                row.update(in_channels=module.in_features, out_channels=module.out_features,
                           macs=linear_macs(module.in_features, module.out_features))
            else:
                row.update(in_channels=module.num_features, out_channels=module.num_features,
                           macs=0)
            rows.append(row)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, nn.Conv2d | nn.Linear | nn.BatchNorm2d)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return pd.DataFrame(rows, columns=COLUMNS)


def subnet_table(model: DynamicNet, subnet: SubnetSpec | str,
                 input_hw: tuple[int, int]) -> pd.DataFrame:
    """Per-layer counts of one registered sub-net at input resolution ``input_hw``."""
    return layer_table(model.export_subnet(subnet), (model.in_channels, *input_hw))


def subnet_totals(model: DynamicNet, input_hw: tuple[int, int]) -> pd.DataFrame:
    """One row per registered sub-net: total MACs, parameters and peak activation size."""
    rows = []
    for spec in model.subnets:
        table = subnet_table(model, spec, input_hw)
        rows.append({"subnet": spec.name, "macs": int(table["macs"].sum()),
                     "params": int(table["params"].sum()),
                     "peak_activation_values": int(table[["act_in", "act_out"]].max().max())})
    return pd.DataFrame(rows)


def resolutions(model: nn.Module, input_shape: tuple[int, ...],
                kinds: tuple[type, ...]) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """``{module name: (input H x W, output H x W)}`` of the modules of the given kinds, from
    one forward pass of a zero image (``(1, 1)`` for flat tensors; refused first if too large:
    :func:`check_input_size`)."""
    check_input_size(model, input_shape)
    seen: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            x = inputs[0]
            hw_in = (int(x.shape[2]), int(x.shape[3])) if x.dim() == 4 else (1, 1)
            hw_out = (int(output.shape[2]), int(output.shape[3])) if output.dim() == 4 \
                else (1, 1)
            seen[name] = (hw_in, hw_out)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, kinds)]
    device = next(model.parameters()).device
    training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    return seen


class MacModel:
    """MACs of any channel-count vector of a model, in closed form (no forward pass).

    One forward pass of the full model records, per convolution/linear layer, its input and
    output channel groups, kernel size and output resolution; then
    ``macs(counts) = sum_layers H_out * W_out * c_out(counts) * c_in(counts) * K_h * K_w``,
    the same convention as :func:`layer_table` (so it equals ``subnet_totals``).
    """

    def __init__(self, model: DynamicNet, input_hw: tuple[int, int]) -> None:
        from pimsim.network.ops import Fixed, SlimConv2d, SlimLinear

        self.terms: list[tuple[int | None, int, int | None, int, int]] = []
        kinds = (SlimConv2d, SlimLinear)
        seen = resolutions(model.body, (model.in_channels, *input_hw), kinds)
        for name, m in model.body.named_modules():
            if not isinstance(m, kinds):
                continue
            (oh, ow) = seen[name][1]
            kernel = m.kernel_size[0] * m.kernel_size[1] if isinstance(m, SlimConv2d) else 1
            gin = None if isinstance(m.in_group, Fixed) else m.in_group
            gout = None if isinstance(m.out_group, Fixed) else m.out_group
            fin = m.in_group.channels if gin is None else 0
            fout = m.out_group.channels if gout is None else 0
            self.terms.append((gin, fin, gout, fout, oh * ow * kernel))

    def macs(self, counts: tuple[int, ...] | list[int]) -> int:
        total = 0
        for gin, fin, gout, fout, factor in self.terms:
            cin = fin if gin is None else counts[gin]
            cout = fout if gout is None else counts[gout]
            total += cin * cout * factor
        return total
