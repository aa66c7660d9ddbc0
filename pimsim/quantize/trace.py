"""Tracing a torch model (torch.fx) into the layer groups of the integer graph.

A *group* is what the integer graph executes as one layer: one op of the registry
(``pimsim.quantize.ops``: ``input``, ``conv`` (+ the BatchNorm2d it feeds) (+ ReLU), ``linear``
(+ ReLU), ``add`` (+ ReLU), ``relu``, ``maxpool``, ``avgpool``, ``flatten``), recognised and
checked by the op's registry entry. Identity and Dropout (eval) are pass-throughs. A group's name
is the fx name of its last node, so the same network code traced as a dynamic model, as an
exported plain sub-net or with quantizers gives the same names. Anything else raises
``PimsimError`` naming the node.
"""

from __future__ import annotations

import torch.fx as fx
from torch import nn

from pimsim.errors import PimsimError
from pimsim.network.ops import SwitchableBatchNorm2d
from pimsim.quantize.layer import Group
from pimsim.quantize.ops import OPS, InputOp, LayerOp, recognise, supported

_BATCHNORM = (nn.BatchNorm2d, SwitchableBatchNorm2d)  # fused into the conv it follows
_PASS_THROUGH = (nn.Identity, nn.Dropout)


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


def _describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"{type(modules[node.target]).__name__} module {node.target!r}"
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', node.target)}"
    return f"{node.op} {node.target!r}"


def _module(node: fx.Node, modules: dict[str, nn.Module]) -> nn.Module | None:
    return modules[node.target] if node.op == "call_module" else None


def _is_bn(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    return isinstance(_module(node, modules), _BATCHNORM)


def _op(node: fx.Node, modules: dict[str, nn.Module], where: str) -> LayerOp:
    """The registry op of ``node``; refuses unsupported operations and variants."""
    module = _module(node, modules)
    op = recognise(node, module)
    if op is None:
        raise PimsimError(f"{where}: node {node.name!r} ({_describe(node, modules)}): "
                          f"unsupported operation; supported are {supported()}")
    why = op.check(node, module)
    if why is not None:
        raise PimsimError(f"{where}: node {node.name!r} ({_describe(node, modules)}): {why}")
    return op


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
        if _is_bn(node, modules):
            raise PimsimError(f"{where}: node {node.name!r} ({_describe(node, modules)}): "
                              f"BatchNorm must directly follow a Conv2d that has no other user")
        args = [a for a in node.args if isinstance(a, fx.Node)]
        if isinstance(_module(node, modules), _PASS_THROUGH):
            alias[node.name] = alias[args[0].name]
            continue
        op = _op(node, modules, where)
        if isinstance(op, InputOp) and groups:
            raise PimsimError(f"{where}: node {node.name!r}: only one input tensor is supported")
        inputs = tuple(alias[a.name] for a in args[:op.arity])
        group = Group(node.name, op.name, inputs, [node.name])
        if node.op == "call_module":
            group.modules[op.name] = node.target
        last = node
        nxt = _sole_user(last)
        if op.fuses_bn and nxt is not None and _is_bn(nxt, modules):
            group.modules["bn"] = nxt.target
            last = nxt
            group.nodes.append(last.name)
        nxt = _sole_user(last)
        if op.fuses_relu and nxt is not None and recognise(nxt, _module(nxt, modules)) \
                is OPS["relu"]:
            group.relu, last = True, nxt
            group.nodes.append(last.name)
        absorbed.update(n for n in graph.nodes if n.name in group.nodes)
        group.name = last.name
        if op.defines_scale:
            group.signed = op.quant_signed(group.relu)
            group.scale_from = group.name
        else:
            group.scale_from = by_name[inputs[0]].scale_from
        alias[last.name] = group.name
        groups.append(group)
        by_name[group.name] = group
    if output is None or not groups or not isinstance(OPS[groups[0].op], InputOp):
        raise PimsimError(f"{where}: the traced graph has no input or no output")
    return groups, output
