"""The records of one layer: a traced ``Group`` (the fx nodes the tracer fuses into one layer)
and an ``IntLayer`` (that layer in the integer graph). Plain data, used by the op registry
(``pimsim.quantize.ops``), the tracer, the exporter and the graph."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Group:
    """One layer of the integer graph and the fx nodes it is made of."""

    name: str
    op: str
    inputs: tuple[str, ...]
    nodes: list[str] = field(default_factory=list)  # fx node names, in order
    modules: dict[str, str] = field(default_factory=dict)  # role (op name, or bn) -> target
    relu: bool = False
    signed: bool | None = None  # output sign of scale-defining groups; None: decided by the range
    scale_from: str = ""  # the scale-defining group whose scale this group's output carries



@dataclass
class IntLayer:
    """One integer layer.

    Shapes are per image: ``(C, H, W)`` or ``(F,)``. ``in_*`` describe the (first) input
    tensor (``in_bits`` 0: the float network input); ``in_scales`` has one scale per input.
    Conv/linear: ``weight`` int8/int16 ``(out, in, kh, kw)``/``(out, in)`` with per-output-channel
    ``weight_scale`` (BatchNorm folded), ``bias`` int64 at scale ``in_scale * weight_scale``,
    and per-channel ``multiplier``/``shift`` with ``multiplier * 2**-shift ~= in_scale *
    weight_scale / out_scale``. Add: ``multiplier`` has one entry per input, one ``shift``.
    Avgpool: one ``multiplier``/``shift`` for ``1 / (kh * kw)``. ``groups``: a convolution's
    groups (weight ``(out, in / groups, kh, kw)``), 1 for every other layer.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_bits: int
    in_signed: bool
    in_scales: tuple[float, ...]
    out_bits: int
    out_signed: bool
    out_scale: float
    relu: bool = False
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] | None = None
    groups: int = 1
    weight_bits: int | None = None
    weight: np.ndarray | None = None
    weight_scale: np.ndarray | None = None
    bias: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    shift: np.ndarray | None = None
    modules: tuple[str, ...] = ()

    @property
    def in_scale(self) -> float:
        return self.in_scales[0] if self.in_scales else 1.0
