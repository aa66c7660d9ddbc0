"""Fake-quantized models: quantization-aware training of a ``DynamicNet`` and post-training
calibration of a ``DynamicNet`` or of a user's own plain model.

The model's forward is traced (``pimsim.quantize.trace``) and re-emitted with an ``ActQuant``
after every group that defines a new scale (input, conv(+BN)(+ReLU), linear(+ReLU), add(+ReLU)),
with each op's rewrite (``pimsim.quantize.ops``); convolution and linear layers switch in place
to fake-quantized-weight subclasses. In eval mode, ``LayerRound``, ``AddRound`` and
``GridRound`` make each layer output, residual addition and average pool take exactly the
integer graph's value (same folded bias, multiplier, shift and rounding; accumulators recomputed
exactly from the inputs' integers, scales in float64), so the fake-quantized model (float32 or
float64) and the integer executor agree bit for bit on every traced model; in training they
pass the float value (straight-through). Quantizers are named after the integer graph's layers
and keep one range per sub-net, indexed by the shared ``SubnetState.active``."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.fx as fx
from torch import Tensor, nn

from pimsim.errors import PimsimError
from pimsim.network import DynamicNet
from pimsim.network.ops import SubnetState
from pimsim.quantize.fake_quant import ActQuant, act_scale, make_qat_layer
from pimsim.quantize.layer import Group
from pimsim.quantize.ops import OPS
from pimsim.quantize.trace import find_groups, trace

BITS = (8, 16)


def check_bits(bits: int, where: str = "bits") -> int:
    if bits not in BITS:
        raise PimsimError(f"{where}: must be 8 or 16, got {bits!r}")
    return bits


class QuantizedBody(nn.Module):
    """A body's forward with fake quantizers; its children are the body's own (same names, so
    the state dict only gains ``quant.<layer>.{lo,hi,seen}``).

    ``groups``/``output`` describe the integer graph over the same module names.
    """

    def __init__(self, body: nn.Module, bits: int, state: SubnetState, n_subnets: int,
                 where: str = "model") -> None:
        super().__init__()
        self.bits = check_bits(bits)
        object.__setattr__(self, "state", state)
        modules = dict(body.named_modules())
        source = trace(body, where=where)
        self.groups, self.output = find_groups(source, modules, where)
        for name, child in body.named_children():
            self.add_module(name, child)
        self.quant = nn.ModuleDict()
        graph = copy.deepcopy(source)
        nodes = {n.name: n for n in graph.nodes}
        for group in self.groups:
            op = OPS[group.op]
            mods = {role: modules[target] for role, target in group.modules.items()}
            if op.has_weights:
                make_qat_layer(mods[op.name], bits)
            target = ActQuant(bits, group.signed, n_subnets, state) if op.defines_scale else None
            sources = tuple(self.quant[self.group(i).scale_from] for i in group.inputs)
            last = nodes[group.name]
            rewrite = op.fake_quant(group, mods, sources, target)
            if rewrite is not None:
                node = nodes[rewrite.node]
                if rewrite.replace:
                    self.quant[rewrite.key] = rewrite.module
                    with graph.inserting_after(node):
                        new = graph.call_module(f"quant.{rewrite.key}", node.args[:op.arity])
                    node.replace_all_uses_with(new)
                    graph.erase_node(node)
                else:
                    extra = () if rewrite.input_of is None else \
                        (nodes[rewrite.input_of].args[0],)
                    new = self._insert(graph, node, rewrite.key, rewrite.module, extra)
                last = new if node is last else last
            if op.defines_scale:
                self._insert(graph, last, group.name, target)
        graph.lint()
        object.__setattr__(self, "_forward", fx.GraphModule(self, graph))

    def _insert(self, graph: fx.Graph, after: fx.Node, name: str, module: nn.Module,
                extra: tuple[fx.Node, ...] = ()) -> fx.Node:
        """Route every user of ``after`` through ``module`` (stored as ``quant[name]``; its
        arguments: ``after``, then ``extra``)."""
        self.quant[name] = module
        with graph.inserting_after(after):
            node = graph.call_module(f"quant.{name}", (after, *extra))
        after.replace_all_uses_with(node, delete_user_cb=lambda user: user is not node)
        return node

    def forward(self, x: Tensor) -> Tensor:
        return self._forward(x)

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    def act_params(self, index: int, where: str = "model") -> dict[str, tuple[float, bool]]:
        """``{layer: (scale, signed)}`` of sub-net ``index`` for every scale-defining layer
        (scales computed in float64, as a ``.double()`` copy of the model computes them)."""
        params = {}
        for name, q in self.quant.items():
            if not isinstance(q, ActQuant):
                continue
            if index >= len(q.seen) or q.seen[index] == 0:
                raise PimsimError(f"{where}: layer {name!r} has no quantization range for "
                                  f"sub-net {index}: train with --bits or calibrate first")
            signed = q.signed(index)
            scale = act_scale(q.lo[index].double(), q.hi[index].double(), q.bits, signed)
            params[name] = (float(scale), signed)
        return params


def prepare_qat(model: DynamicNet, bits: int) -> DynamicNet:
    """Make ``model`` fake-quantized at ``bits`` (8 or 16), in place, and return it.

    ``model.body`` becomes a ``QuantizedBody`` over the same layers: the float state-dict keys
    are kept and ``body.quant.<layer>.{lo,hi,seen}`` (one entry per registered sub-net) are
    added, so a QAT checkpoint reloads with ``DynamicNet(...)``, ``prepare_qat(model, bits)``,
    ``load_state_dict``. Register every sub-net before calling this. ``train_joint`` trains it
    unchanged (ranges follow the batches in train mode); ``export_subnet`` still gives the
    float plain sub-net.
    """
    if isinstance(model.body, QuantizedBody):
        raise PimsimError(f"model: already quantized ({model.body.bits}-bit)")
    state = next(layer.state for layer in model.sliceable_layers())
    model.body = QuantizedBody(model.body, bits, state, len(model.subnets), where=model.arch)
    return model


def quantization_bits(model: nn.Module) -> int | None:
    """The bits of a model prepared by ``prepare_qat``/``quantize_model``, else None."""
    body = getattr(model, "body", model)
    return body.bits if isinstance(body, QuantizedBody) else None


def quantize_model(model: nn.Module, bits: int, name: str = "model") -> QuantizedBody:
    """A fake-quantized copy of a user's plain float model (one sub-net), in eval mode (so
    calling it changes no BatchNorm statistics or activation range); ``model`` itself is not
    modified. Calibrate it with ``calibrate`` before use."""
    state = SubnetState()
    state.active = 0
    return QuantizedBody(copy.deepcopy(model).eval(), bits, state, 1, where=name).eval()


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[Tensor]) -> None:
    """Post-training calibration of the active sub-net: every activation range becomes the
    min/max over ``batches``. The model runs in eval mode (BatchNorm statistics untouched) and
    is left in eval mode, so later calls change neither statistics nor ranges and an export
    does not depend on what ran between calibration and export (call ``train()`` to resume
    quantization-aware training)."""
    body = getattr(model, "body", model)
    if not isinstance(body, QuantizedBody):
        raise PimsimError("calibrate: the model is not quantized; call prepare_qat first")
    quantizers = [q for q in body.quant.values() if isinstance(q, ActQuant)]
    index = body.state.active
    model.eval()
    for q in quantizers:
        q.seen[index] = 0
        q.calibrating = True
    try:
        for x in batches:
            model(x)
    finally:
        for q in quantizers:
            q.calibrating = False
