"""ResNet families written once against a layer builder (``DynamicOps`` or ``StaticOps``).

CIFAR-style (He et al. 2016, Sec. 4.2): three stages of 16/32/64 channels, depth 6n+2
(resnet20/32/56), 3x3 stem. Where a stage changes width or resolution the shortcut is a 1x1
convolution + BN ("option B") rather than zero padding, so that every stage's residual stream
is one independently prunable channel group.
ImageNet-style (He et al. 2016, Table 1): 7x7/2 stem + 3x3/2 max-pool, four stages of
64/128/256/512 channels, basic blocks (resnet18/34) or bottleneck blocks x4 (resnet50).

Channel groups: one per residual stream (the stem joins the first stream when the first stage
has identity shortcuts) and one per inner convolution of each block.
"""

from __future__ import annotations

from torch import Tensor, nn

from pimsim.network.ops import DynamicOps, Fixed, Group, StaticOps

Ops = DynamicOps | StaticOps


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a residual addition."""

    def __init__(self, ops: Ops, name: str, in_g: Group, out_g: Group, width: int,
                 stride: int, project: bool) -> None:
        super().__init__()
        mid = ops.group(f"{name}.conv1", width)
        self.conv1 = ops.conv(in_g, mid, 3, stride, 1)
        self.bn1 = ops.bn(mid)
        self.conv2 = ops.conv(mid, out_g, 3, 1, 1)
        self.bn2 = ops.bn(out_g)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut = (nn.Sequential(ops.conv(in_g, out_g, 1, stride, 0), ops.bn(out_g))
                         if project else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), and a residual addition."""

    expansion = 4

    def __init__(self, ops: Ops, name: str, in_g: Group, out_g: Group, width: int,
                 stride: int, project: bool) -> None:
        super().__init__()
        g1 = ops.group(f"{name}.conv1", width)
        g2 = ops.group(f"{name}.conv2", width)
        self.conv1 = ops.conv(in_g, g1, 1)
        self.bn1 = ops.bn(g1)
        self.conv2 = ops.conv(g1, g2, 3, stride, 1)
        self.bn2 = ops.bn(g2)
        self.conv3 = ops.conv(g2, out_g, 1)
        self.bn3 = ops.bn(out_g)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut = (nn.Sequential(ops.conv(in_g, out_g, 1, stride, 0), ops.bn(out_g))
                         if project else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


def _stages(ops: Ops, block: type[BasicBlock] | type[Bottleneck], stem_g: Group,
            stem_width: int, widths: list[int], depths: list[int],
            first_stride: int) -> tuple[nn.Sequential, Group, int]:
    """Stack the stages; returns (layers, last stream group, last stream width)."""
    expansion = getattr(block, "expansion", 1)
    stages, in_g, in_w = [], stem_g, stem_width
    for s, (width, depth) in enumerate(zip(widths, depths, strict=True)):
        out_w = width * expansion
        stride = first_stride if s == 0 else 2
        project = stride != 1 or in_w != out_w
        out_g = ops.group(f"layer{s + 1}", out_w) if project else in_g
        blocks = []
        for b in range(depth):
            blocks.append(block(ops, f"layer{s + 1}.{b}", in_g, out_g, width,
                                stride if b == 0 else 1, project and b == 0))
            in_g, in_w = out_g, out_w
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(*stages), in_g, in_w


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images: 3x3 stem, stages of 16/32/64 channels."""

    def __init__(self, ops: Ops, depth: int, num_classes: int, in_channels: int) -> None:
        super().__init__()
        n = (depth - 2) // 6
        stem_g = ops.group("layer1", 16)
        self.conv1 = ops.conv(Fixed(in_channels), stem_g, 3, 1, 1)
        self.bn1 = ops.bn(stem_g)
        self.relu = nn.ReLU(inplace=False)
        self.layers, last_g, _ = _stages(ops, BasicBlock, stem_g, 16, [16, 32, 64], [n] * 3, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = ops.linear(last_g, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.fc(self.flatten(self.pool(self.layers(x))))


class ImageNetResNet(nn.Module):
    """ResNet-18/34/50 (He et al. 2016, Table 1)."""

    def __init__(self, ops: Ops, block: type[BasicBlock] | type[Bottleneck], depths: list[int],
                 num_classes: int, in_channels: int) -> None:
        super().__init__()
        expansion = getattr(block, "expansion", 1)
        # The stem joins the first stream only when the first stage keeps 64 channels.
        stem_g = ops.group("layer1" if expansion == 1 else "stem", 64)
        self.conv1 = ops.conv(Fixed(in_channels), stem_g, 7, 2, 3)
        self.bn1 = ops.bn(stem_g)
        self.relu = nn.ReLU(inplace=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layers, last_g, _ = _stages(ops, block, stem_g, 64, [64, 128, 256, 512], depths, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = ops.linear(last_g, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(self.layers(x))))


ARCHS = ("resnet20", "resnet32", "resnet56", "resnet18", "resnet34", "resnet50")


def build_body(arch: str, ops: Ops, num_classes: int, in_channels: int) -> nn.Module:
    """The network ``arch`` built from ``ops``'s layers."""
    if arch in ("resnet20", "resnet32", "resnet56"):
        return CifarResNet(ops, int(arch[6:]), num_classes, in_channels)
    if arch == "resnet18":
        return ImageNetResNet(ops, BasicBlock, [2, 2, 2, 2], num_classes, in_channels)
    if arch == "resnet34":
        return ImageNetResNet(ops, BasicBlock, [3, 4, 6, 3], num_classes, in_channels)
    if arch == "resnet50":
        return ImageNetResNet(ops, Bottleneck, [3, 4, 6, 3], num_classes, in_channels)
    raise KeyError(arch)
