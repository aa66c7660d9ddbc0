"""Nested allocation of a dynamic network's weight layers onto computational sub-arrays.

Each weight layer is placed once, for the widest width any sub-net uses, as the device model's
:class:`~pimsim.device.Tiling` of each of its GEMMs: the reduction axis ``r = (c_in, k_h, k_w)``
(c_in major) runs along columns in ``ceil(R / cols)`` chunks, output channels fill ``g = (rows -
x_bits) // w_bits`` per sub-array in ``ceil(C_out / g)`` tiles. Sub-array ``(chunk c, tile t)``
of a layer gets the global id ``base + c * tiles + t``. Channels are in importance order, so a
sub-net using ``c_in' <= c_in`` inputs and ``c_out' <= c_out`` outputs uses the chunks ``c <
ceil(c_in' k_h k_w / cols)`` and the tiles ``t < ceil(c_out' / g)``: a subset of every wider
sub-net's sub-arrays.
A grouped convolution (``groups`` G, :class:`pimsim.geometry.Gemm`) is G independent GEMMs of
``C_out / G`` channels over ``R = C_in / G * K_h * K_w``; the simplest honest placement gives
each group its own sub-arrays (group ``j`` at ``base + j * chunks * tiles + ...``), so a
depthwise layer (R = K_h K_w, one channel per group) fills few columns and few rows of each of
its sub-arrays: the utilization column shows that waste.
Weights are stored once for the whole family; the other sub-arrays can be power-gated.

Per-layer duplication (``policy.replicate: true``, :func:`duplicate`): the sub-arrays that the
running sub-net's own weights leave free (``N - own``, ``N`` the chip's sub-arrays) hold copies
of its layers, as NeuroSim's floorplanner duplicates layers; copy ``i`` of a layer computes
``1/r`` of its output pixels. Layer ``l`` (``n_l`` sub-arrays per copy, ``s_l`` AND2 steps per
image) gets a share ``S_l`` of the chip proportional to ``sqrt(s_l)`` in layer-by-layer execution
(this minimises ``sum_l s_l / S_l``, the layer-wise bound) or to ``s_l`` in pipelined execution
(equal stage times), by water-filling: a layer whose share is below one copy keeps one (these
first), a layer whose share exceeds one copy per output pixel gets one per pixel, the rest is
shared again; then ``r_l = floor(S_l / n_l)``, so ``sum_l r_l n_l <= N``, lowered to the fewest
copies giving the same pixels per copy; the sub-arrays left go to the layers they speed up most
(:func:`_fill`). Copies live first in
sub-arrays no sub-net uses, then over the wider sub-nets' sub-arrays, so they are written at
each switch (``mapper/cost.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

from pimsim.device import EventCounts, Tiling, gemm_events, weight_load_events
from pimsim.errors import PimsimError
from pimsim.geometry import Gemm
from pimsim.mapper.chip import ChipMapping


@dataclass(frozen=True)
class GemmLayer:
    """One weight layer of one sub-net as the mapper sees it (shapes per image): ``groups``
    GEMMs of :class:`pimsim.geometry.Gemm` geometry at the given bits."""

    name: str
    op: str  # the registry op: "conv" or "linear"
    c_in: int
    c_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    x_bits: int
    w_bits: int
    out_bits: int
    groups: int = 1

    @classmethod
    def from_gemm(cls, name: str, op: str, gemm: Gemm, x_bits: int, w_bits: int,
                  out_bits: int) -> GemmLayer:
        return cls(name, op, gemm.c_in, gemm.c_out, gemm.kernel, gemm.stride, gemm.padding,
                   gemm.in_hw, gemm.out_hw, x_bits, w_bits, out_bits, gemm.groups)

    @cached_property  # read by reduction, pixels and macs thousands of times per sweep
    def gemm(self) -> Gemm:
        return Gemm(self.c_in, self.c_out, self.kernel, self.stride, self.padding, self.in_hw,
                    self.out_hw, self.groups)

    @property
    def reduction(self) -> int:
        """R = C_in / groups * K_h * K_w (one group's)."""
        return self.gemm.reduction

    @property
    def pixels(self) -> int:
        return self.gemm.pixels

    @property
    def act_in_bits(self) -> int:
        """C_in * H * W * x_bits: the input activations of one image."""
        return self.c_in * self.in_hw[0] * self.in_hw[1] * self.x_bits

    @property
    def act_out_bits(self) -> int:
        """C_out * H' * W' * out_bits: the output activations of one image."""
        return self.c_out * self.pixels * self.out_bits

    @property
    def macs(self) -> int:
        """C_out * R * H_out * W_out."""
        return self.gemm.macs

    @property
    def weight_bits(self) -> int:
        return self.c_out * self.reduction * self.w_bits

    @lru_cache(maxsize=4096)  # noqa: B019 (layers are frozen; sweeps re-cost them)
    def tiling(self, rows: int, cols: int) -> Tiling:
        """The tiling of one group's GEMM (``C_out / groups`` channels)."""
        return Tiling(self.gemm.group_c_out, self.reduction, self.x_bits, self.w_bits, rows,
                      cols)

    @lru_cache(maxsize=4096)  # noqa: B019 (layers are frozen; sweeps re-cost them)
    def subarrays(self, rows: int, cols: int) -> int:
        """Sub-arrays of one copy of the layer: groups * tiling.subarrays."""
        return self.groups * self.tiling(rows, cols).subarrays

    @lru_cache(maxsize=4096)  # noqa: B019 (layers are frozen; sweeps re-cost them)
    def events(self, rows: int, cols: int, images: int = 1) -> EventCounts:
        """Closed-form compute events of ``images`` inferences: every group's GEMM."""
        return gemm_events(self.tiling(rows, cols), self.pixels * images) * self.groups

    @lru_cache(maxsize=4096)  # noqa: B019 (layers are frozen; sweeps re-cost them)
    def load_events(self, rows: int, cols: int) -> EventCounts:
        """Writing every group's weight bit-planes once."""
        return weight_load_events(self.tiling(rows, cols)) * self.groups


@dataclass(frozen=True)
class Placement:
    """Where one layer's (widest) weights live: its tiling and first global sub-array id."""

    layer: str
    tiling: Tiling  # of one group's GEMM
    base: int
    groups: int = 1

    @property
    def subarrays(self) -> int:
        """tiling.subarrays * groups."""
        return self.tiling.subarrays * self.groups

    def subarray_ids(self, layer: GemmLayer) -> frozenset[int]:
        """Global ids of the sub-arrays holding a sub-net's version of this layer."""
        t = self.tiling
        mine = layer.tiling(t.rows, t.cols)
        if mine.chunks > t.chunks or mine.channel_tiles > t.channel_tiles:
            raise PimsimError(f"layer {layer.name}: wider than its placement")
        return frozenset(self.base + j * t.subarrays + c * t.channel_tiles + k
                         for j in range(self.groups)
                         for c in range(mine.chunks) for k in range(mine.channel_tiles))


@dataclass(frozen=True)
class FamilyMap:
    """The placement of every layer of a family of sub-nets on one chip."""

    mapping: ChipMapping
    placements: dict[str, Placement]
    total_subarrays: int
    buffer_bits: int  # the activation buffer: the family's peak act_in + act_out of one layer
    # duplicate()'s result per sub-net (its layers), computed once
    copies_memo: dict[tuple[GemmLayer, ...], dict[str, int]] = field(
        default_factory=dict, compare=False, repr=False)

    @property
    def resident(self) -> bool:
        """All weights of the family stay on chip (no reloads)."""
        return self.total_subarrays <= self.mapping.chip.subarrays

    def subnet_subarray_count(self, layers: list[GemmLayer]) -> int:
        """``len(subnet_subarrays(layers))`` without building the ids (layers are disjoint)."""
        chip = self.mapping.chip
        return sum(layer.subarrays(chip.rows, chip.cols) for layer in layers)

    def subnet_subarrays(self, layers: list[GemmLayer]) -> frozenset[int]:
        ids: set[int] = set()
        for layer in layers:
            ids |= self.placements[layer.name].subarray_ids(layer)
        return frozenset(ids)


def map_family(family: Mapping[str, list[GemmLayer]], mapping: ChipMapping) -> FamilyMap:
    """Place every layer of every sub-net; refuse a family that does not fit when the policy
    keeps weights resident."""
    chip = mapping.chip
    widest: dict[str, GemmLayer] = {}
    order: list[str] = []
    for subnet, layers in family.items():
        for layer in layers:
            seen = widest.get(layer.name)
            if seen is None:
                widest[layer.name] = layer
                order.append(layer.name)
                continue
            if (seen.op, seen.kernel, seen.groups, seen.x_bits, seen.w_bits) != \
                    (layer.op, layer.kernel, layer.groups, layer.x_bits, layer.w_bits):
                raise PimsimError(f"sub-net {subnet}: layer {layer.name}: kind, kernel, groups "
                                  "or bits differ from the other sub-nets' (not one family)")
            if layer.c_out > seen.c_out or layer.c_in > seen.c_in:
                widest[layer.name] = replace(seen, c_in=max(seen.c_in, layer.c_in),
                                             c_out=max(seen.c_out, layer.c_out))
    tilings = {}
    for name in order:
        try:
            tilings[name] = widest[name].tiling(chip.rows, chip.cols)
        except PimsimError as exc:
            raise PimsimError(f"{mapping.path}: chip.rows: layer {name}: {exc}") from None
    placements, base = {}, 0
    for name in order:
        placements[name] = Placement(name, tilings[name], base, widest[name].groups)
        base += placements[name].subarrays
    buffer_bits = max(w.act_in_bits + w.act_out_bits for w in widest.values())
    fmap = FamilyMap(mapping, placements, base, buffer_bits)
    if not fmap.resident and mapping.policy.weights == "resident":
        raise PimsimError(
            f"{mapping.path}: chip: the sub-nets need {base} sub-arrays of {chip.rows}x{chip.cols}"
            f", the chip has {chip.subarrays}; use a larger chip or policy.weights: reload")
    return fmap


def duplicate(layers: list[GemmLayer], fmap: FamilyMap) -> dict[str, int]:
    """Copies ``r_l >= 1`` of each layer of a sub-net (module docstring): all 1 unless
    ``policy.replicate`` with resident weights. Remembered per sub-net in ``fmap``."""
    key = tuple(layers)
    if key not in fmap.copies_memo:
        fmap.copies_memo[key] = _duplicate(layers, fmap)
    return dict(fmap.copies_memo[key])


def _duplicate(layers: list[GemmLayer], fmap: FamilyMap) -> dict[str, int]:
    mapping = fmap.mapping
    chip, policy = mapping.chip, mapping.policy
    copies = {layer.name: 1 for layer in layers}
    if not policy.replicate or policy.weights != "resident":
        return copies
    own = {layer.name: layer.subarrays(chip.rows, chip.cols) for layer in layers}
    steps = {layer.name: layer.events(chip.rows, chip.cols).and2_senses for layer in layers}
    weight = {name: math.sqrt(s) if policy.execution == "layer-by-layer" else float(s)
              for name, s in steps.items()}
    most = {layer.name: layer.pixels for layer in layers}
    share: dict[str, float] = {}
    fixed: dict[str, float] = {}
    while True:
        free = [name for name in own if name not in fixed]
        left = chip.subarrays - sum(fixed.values())
        total = sum(weight[name] for name in free)
        share = {name: left * weight[name] / total for name in free} if total else {}
        # lows first (raising them lowers every other share), then highs (lowering them only
        # raises the others): the fixed amounts never exceed what is left
        clamp = {name: own[name] for name, s in share.items() if s < own[name]} or \
            {name: own[name] * most[name] for name, s in share.items()
             if s > own[name] * most[name]}
        if not clamp:
            break
        fixed.update(clamp)
    for name, s in {**share, **fixed}.items():
        r = max(1, min(most[name], math.floor(s / own[name])))
        copies[name] = -(-most[name] // -(-most[name] // r))  # fewest copies, same pixels each
    _fill(copies, own, most, {x.name: x.tiling(chip.rows, chip.cols) for x in layers},
          chip.subarrays, policy.execution == "pipelined")
    return copies


def _fill(copies: dict[str, int], own: dict[str, int], most: dict[str, int],
          tilings: dict[str, Tiling], subarrays: int, pipelined: bool) -> None:
    """Give the sub-arrays the floors left idle to the layers they speed up most. Layer ``l``
    takes ``ceil(p_l / r_l)`` pixels of its busiest sub-array's steps; its next useful copy count
    is ``ceil(p / (ceil(p / r) - 1))``. Layer-by-layer: the most time saved per added sub-array,
    among the layers that fit; pipelined: the slowest layer, while it fits."""
    per_pixel = {name: min(t.channels_per_subarray, t.c_out) * t.x_bits * t.w_bits
                 for name, t in tilings.items()}
    left = subarrays - sum(copies[name] * own[name] for name in copies)
    while True:
        options = []  # (gain, name, next copy count, sub-arrays it adds)
        for name, r in copies.items():
            pixels = -(-most[name] // r)
            if pixels > 1:
                nxt = -(-most[name] // (pixels - 1))
                extra = (nxt - r) * own[name]
                saved = per_pixel[name] * (pixels - -(-most[name] // nxt))
                gain = pixels * per_pixel[name] if pipelined else saved / extra
                if pipelined or extra <= left:
                    options.append((gain, name, nxt, extra))
        if not options:
            return
        _, name, nxt, extra = max(options)
        if extra > left:
            return
        left -= extra
        copies[name] = nxt
