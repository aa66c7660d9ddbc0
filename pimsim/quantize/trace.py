"""Tracing a torch model (torch.fx) into the layer groups of the integer graph.

A *group* is what the integer graph executes as one layer: ``input``; ``conv`` (Conv2d, then
optionally the BatchNorm2d it feeds and a ReLU); ``linear`` (+ ReLU); ``add`` (a residual
addition, + ReLU); ``relu``; ``maxpool``; ``avgpool`` (AvgPool2d, AdaptiveAvgPool2d(1));
``flatten``. Identity and Dropout (eval) are pass-throughs. A group's name is the fx name of
its last node, so the same network code traced as a dynamic model, as an exported plain sub-net
or with quantizers gives the same names. Anything else raises ``PimsimError`` naming the node.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from pimsim.errors import PimsimError
from pimsim.network.ops import SwitchableBatchNorm2d

SUPPORTED = ("Conv2d, Linear, BatchNorm2d after a Conv2d, ReLU, MaxPool2d, AvgPool2d, "
             "AdaptiveAvgPool2d(1), Flatten, Identity, Dropout and tensor additions")
QUANT_OPS = ("input", "conv", "linear", "add")  # groups that define a new activation scale

_MODULE_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (nn.Conv2d, "conv"), (nn.Linear, "linear"), ((nn.BatchNorm2d, SwitchableBatchNorm2d), "bn"),
    (nn.ReLU, "relu"), (nn.MaxPool2d, "maxpool"), ((nn.AvgPool2d, nn.AdaptiveAvgPool2d), "avgpool"),
    (nn.Flatten, "flatten"), ((nn.Identity, nn.Dropout), "identity"))
_FUNCTION_KINDS = {operator.add: "add", torch.add: "add", operator.iadd: "add",
                   torch.relu: "relu", F.relu: "relu", torch.flatten: "flatten"}
_METHOD_KINDS = {"add": "add", "relu": "relu", "flatten": "flatten"}


class _Tracer(fx.Tracer):
    """Keeps convolution and linear layers (plain, slim or fake-quantized subclasses) and
    switchable BatchNorm as single nodes."""

    LEAVES = (nn.Conv2d, nn.Linear, SwitchableBatchNorm2d)

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, self.LEAVES) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module, where: str = "model") -> fx.Graph:
    """The fx graph of ``model.forward``; ``PimsimError`` if torch.fx cannot trace it."""
    try:
        return _Tracer().trace(model)
    except (fx.proxy.TraceError, TypeError, RuntimeError, NotImplementedError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PimsimError(f"{where}: cannot be traced with torch.fx ({first})") from None


@dataclass
class Group:
    """One layer of the integer graph and the fx nodes it is made of."""

    name: str
    op: str
    inputs: tuple[str, ...]
    nodes: list[str] = field(default_factory=list)  # fx node names, in order
    modules: dict[str, str] = field(default_factory=dict)  # role (conv/bn/linear/pool) -> target
    relu: bool = False
    signed: bool | None = None  # output sign of QUANT_OPS groups; None: decided by the range
    scale_from: str = ""  # the QUANT_OPS group whose scale this group's output carries


def _describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"{type(modules[node.target]).__name__} module {node.target!r}"
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', node.target)}"
    return f"{node.op} {node.target!r}"


def _kind(node: fx.Node, modules: dict[str, nn.Module]) -> str | None:
    if node.op == "placeholder":
        return "input"
    if node.op == "call_module":
        module = modules[node.target]
        return next((k for t, k in _MODULE_KINDS if isinstance(module, t)), None)
    if node.op == "call_function":
        return _FUNCTION_KINDS.get(node.target)
    if node.op == "call_method":
        return _METHOD_KINDS.get(node.target)
    return None


def _check(node: fx.Node, kind: str, modules: dict[str, nn.Module], where: str) -> None:
    """Reject variants of supported operations that the integer graph does not implement."""
    def bad(why: str) -> PimsimError:
        return PimsimError(f"{where}: node {node.name!r} ({_describe(node, modules)}): {why}")

    module = modules.get(node.target) if node.op == "call_module" else None
    if kind == "conv" and isinstance(module, nn.Conv2d):
        if module.groups != 1 or module.dilation != (1, 1) or module.padding_mode != "zeros" \
                or isinstance(module.padding, str):
            raise bad("only groups=1, dilation=1 and numeric zero padding are supported")
    elif kind == "maxpool" and module is not None:
        if module.dilation not in (1, (1, 1)) or module.ceil_mode or module.return_indices:
            raise bad("only dilation=1, ceil_mode=False pooling is supported")
    elif kind == "avgpool" and isinstance(module, nn.AdaptiveAvgPool2d):
        if module.output_size not in (1, (1, 1)):
            raise bad("only AdaptiveAvgPool2d(1) (global average) is supported")
    elif kind == "avgpool" and module is not None:
        if module.padding not in (0, (0, 0)) or module.ceil_mode \
                or module.divisor_override is not None:
            raise bad("only AvgPool2d without padding, ceil_mode or divisor_override")
    elif kind == "flatten":
        start = module.start_dim if module is not None else \
            (node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0))
        end = module.end_dim if module is not None else \
            (node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1))
        if start != 1 or end != -1:
            raise bad("only flatten(start_dim=1) is supported")
    elif kind == "add":
        if len(node.args) != 2 or node.kwargs or \
                not all(isinstance(a, fx.Node) for a in node.args):
            raise bad("only the addition of two tensors is supported")


def _sole_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def find_groups(graph: fx.Graph, modules: dict[str, nn.Module],
                where: str = "model") -> tuple[list[Group], str]:
    """The layer groups in topological order and the name of the group that is the output."""
    groups: list[Group] = []
    alias: dict[str, str] = {}  # fx node name -> group name
    by_name: dict[str, Group] = {}
    absorbed: set[fx.Node] = set()
    output = None
    for node in graph.nodes:
        if node in absorbed:
            continue
        if node.op == "output":
            result = node.args[0]
            if not isinstance(result, fx.Node):
                raise PimsimError(f"{where}: the model must return one tensor, not {result!r}")
            output = alias[result.name]
            continue
        kind = _kind(node, modules)
        if kind is None:
            raise PimsimError(f"{where}: node {node.name!r} ({_describe(node, modules)}): "
                              f"unsupported operation; supported are {SUPPORTED}")
        _check(node, kind, modules, where)
        if kind == "bn":
            raise PimsimError(f"{where}: node {node.name!r} ({_describe(node, modules)}): "
                              f"BatchNorm must directly follow a Conv2d that has no other user")
        args = [a for a in node.args if isinstance(a, fx.Node)]
        if kind == "identity":
            alias[node.name] = alias[args[0].name]
            continue
        if kind == "input" and any(g.op == "input" for g in groups):
            raise PimsimError(f"{where}: node {node.name!r}: only one input tensor is supported")
        inputs = tuple(alias[a.name] for a in (args if kind == "add" else args[:1]))
        group = Group(node.name, kind, inputs, [node.name])
        if node.op == "call_module":
            group.modules["conv" if kind == "conv" else kind] = node.target
        last = node
        nxt = _sole_user(last)
        if kind == "conv" and nxt is not None and _kind(nxt, modules) == "bn":
            group.modules["bn"] = nxt.target
            last = nxt
            group.nodes.append(last.name)
        nxt = _sole_user(last)
        if kind in ("conv", "linear", "add") and nxt is not None and _kind(nxt, modules) == "relu":
            group.relu, last = True, nxt
            group.nodes.append(last.name)
        absorbed.update(n for n in graph.nodes if n.name in group.nodes)
        group.name = last.name
        if kind in QUANT_OPS:
            group.signed = None if kind == "input" else not group.relu
            group.scale_from = group.name
        else:
            group.scale_from = by_name[inputs[0]].scale_from
        alias[last.name] = group.name
        groups.append(group)
        by_name[group.name] = group
    if output is None or not groups or groups[0].op != "input":
        raise PimsimError(f"{where}: the traced graph has no input or no output")
    return groups, output
