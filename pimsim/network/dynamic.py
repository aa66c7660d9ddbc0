"""``DynamicNet``: one set of weights, several registered sub-nets, switched at run time."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pimsim.errors import PimsimError
from pimsim.network.ops import DynamicOps, SlimConv2d, SlimLinear, StaticOps, SwitchableBatchNorm2d
from pimsim.network.resnet import ARCHS, build_body
from pimsim.network.spec import SubnetSpec

# Bounds checked before the weights are allocated (the stem and the classifier grow with them).
MAX_IN_CHANNELS = 4_096
MAX_CLASSES = 100_000

class DynamicNet(nn.Module):
    """A width-switchable network of the family ``arch`` (see ``pimsim.network.resnet``).

    ``subnets`` are registered in order (default: the full model, ``w1``); each gets its own
    BatchNorm layers. ``set_subnet`` activates one; ``export_subnet`` returns it as a plain model.
    """

    def __init__(self, arch: str, num_classes: int = 10, in_channels: int = 3,
                 subnets: list[SubnetSpec] | None = None) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise PimsimError(f"model: unknown model {arch!r}; choose one of {', '.join(ARCHS)}")
        for flag, value, most in (("--in-channels", in_channels, MAX_IN_CHANNELS),
                                  ("--num-classes", num_classes, MAX_CLASSES)):
            if not 1 <= value <= most:  # refused before any weight is allocated
                raise PimsimError(f"{flag}: must be 1 to {most:,}, got {value}")
        self.arch, self.num_classes, self.in_channels = arch, num_classes, in_channels
        ops = DynamicOps()
        self.body = build_body(arch, ops, num_classes, in_channels)
        self.group_names: tuple[str, ...] = tuple(ops.group_names)
        self.group_widths: tuple[int, ...] = tuple(ops.group_widths)
        self._state = ops.state
        self._specs: list[SubnetSpec] = []
        self._counts: list[tuple[int, ...]] = []
        for spec in subnets or [SubnetSpec.uniform(1.0)]:
            self.register_subnet(spec)
        self.set_subnet(self._specs[0])

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    # -- sub-nets ---------------------------------------------------------------------------
    @property
    def subnets(self) -> list[SubnetSpec]:
        """The registered sub-nets, in registration order."""
        return list(self._specs)

    @property
    def active(self) -> SubnetSpec:
        return self._specs[self._state.active]

    def sliceable_layers(self) -> list[nn.Module]:
        return [m for m in self.body.modules()
                if isinstance(m, SlimConv2d | SlimLinear | SwitchableBatchNorm2d)]

    def register_subnet(self, spec: SubnetSpec) -> int:
        """Add a sub-net (with fresh BatchNorm layers); returns its index."""
        if any(s.name == spec.name for s in self._specs):
            raise PimsimError(f"sub-net {spec.name!r}: a sub-net of that name is registered")
        counts = spec.resolve(self.group_widths)
        for layer in self.sliceable_layers():
            layer.add_subnet(counts)
        self._specs.append(spec)
        self._counts.append(counts)
        return len(self._specs) - 1

    def index_of(self, subnet: SubnetSpec | str) -> int:
        """Index of a registered sub-net given by name or by spec."""
        name = subnet if isinstance(subnet, str) else subnet.name
        for i, s in enumerate(self._specs):
            if s.name == name:
                if isinstance(subnet, SubnetSpec) and subnet.resolve(self.group_widths) != \
                        self._counts[i]:
                    raise PimsimError(f"sub-net {name!r}: differs from the registered one")
                return i
        known = ", ".join(s.name for s in self._specs)
        raise PimsimError(f"sub-net {name!r}: unknown; registered sub-nets: {known}")

    def counts(self, subnet: SubnetSpec | str) -> tuple[int, ...]:
        """Channel count per group of a registered sub-net."""
        return self._counts[self.index_of(subnet)]

    def set_subnet(self, subnet: SubnetSpec | str) -> None:
        """Activate a registered sub-net: one integer write, no weight is allocated or copied."""
        self._state.active = self.index_of(subnet)

    def masked_layers(self) -> dict[str, SlimConv2d | SlimLinear]:
        """The layers that can carry a weight mask, by module name."""
        return {n: m for n, m in self.body.named_modules()
                if isinstance(m, SlimConv2d | SlimLinear)}

    def set_weight_masks(self, subnet: SubnetSpec | str, masks: dict[str, Tensor]) -> None:
        """Make a registered sub-net sparse: ``masks[layer]`` (0/1, the layer's full weight
        shape) multiplies that layer's weight whenever the sub-net is active."""
        idx, layers = self.index_of(subnet), self.masked_layers()
        for name, mask in masks.items():
            if name not in layers or mask.shape != layers[name].weight.shape:
                raise PimsimError(f"sub-net {self._specs[idx].name!r}: mask for {name!r} does "
                                  "not match a layer of this model")
            layers[name].masks[idx] = mask.to(layers[name].weight.dtype)

    def weight_masks(self, subnet: SubnetSpec | str) -> dict[str, Tensor]:
        """The weight masks of a sub-net (empty for a dense one)."""
        idx = self.index_of(subnet)
        return {n: m.masks[idx] for n, m in self.masked_layers().items() if idx in m.masks}

    def export_subnet(self, subnet: SubnetSpec | str) -> nn.Module:
        """A standalone plain model (Conv2d/BatchNorm2d/Linear) with contiguous sliced weights
        and this sub-net's BatchNorm; it computes what this model computes in that sub-net."""
        idx = self.index_of(subnet)
        static = build_body(self.arch, StaticOps(self._counts[idx]), self.num_classes,
                            self.in_channels)
        dynamic = dict(self.body.named_modules())
        with torch.no_grad():
            for name, module in static.named_modules():
                src = dynamic[name]
                if isinstance(src, SwitchableBatchNorm2d):
                    module.load_state_dict(src.bn[idx].state_dict())
                elif isinstance(src, SlimConv2d | SlimLinear):
                    for pname, param in module.named_parameters(recurse=False):
                        full = getattr(src, pname)
                        if pname == "weight" and idx in src.masks:
                            full = full * src.masks[idx]
                        param.copy_(full[tuple(slice(0, n) for n in param.shape)])
        return static.train(self.training)
