"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov and Chen, CVPR 2018) with torchvision's layer layout: a DAG.

Names follow torchvision's ``mobilenet_v2`` (``features.0`` the stem, ``features.1`` .. ``features.17`` the
inverted residual blocks, each with its ``conv`` sequence, ``features.18`` the last 1x1 convolution,
``classifier`` dropout and linear), width 1.0, so a torchvision state dict loads into it. A block whose stride
is 1 and whose input and output widths agree adds its input to its output (the skip connection that makes the
graph a DAG). No weights are shipped: the zoo initialises them from a seeded generator.

``mobilenet-v2`` is the CIFAR-10 size of the paper's models (3x32x32 input, 10 classes, the 32x downsampling
leaves a 1x1 map); ``mobilenet-v2-imagenet`` the 3x224x224, 1000-class original (0.30 GMAC).
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPE: tuple[int, ...] = (1, 3, 32, 32)
IMAGENET_INPUT_SHAPE: tuple[int, ...] = (1, 3, 224, 224)

#: (expansion t, output channels c, repeats n, first stride s) of each stage (the paper's Table 2).
SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
LAST_CHANNELS = 1280


class ConvBNReLU6(nn.Sequential):
    """Convolution, batch norm, ReLU6 (torchvision's ``Conv2dNormActivation``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=False),
        )


class InvertedResidual(nn.Module):
    """1x1 expansion (unless ``t = 1``), 3x3 depthwise, 1x1 linear projection; input added where shapes agree."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNReLU6(in_channels, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's ``mobilenet_v2`` layout (width 1.0) with ``num_classes`` outputs."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        in_channels = 32
        features: list[nn.Module] = [ConvBNReLU6(3, in_channels, stride=2)]
        for expansion, channels, repeats, stride in SETTINGS:
            for index in range(repeats):
                features.append(InvertedResidual(in_channels, channels, stride if index == 0 else 1, expansion))
                in_channels = channels
        features.append(ConvBNReLU6(in_channels, LAST_CHANNELS, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(LAST_CHANNELS, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def build() -> MobileNetV2:
    """MobileNetV2 for CIFAR-10 (10 classes) with uninitialised weights."""
    return MobileNetV2(10)


def build_imagenet() -> MobileNetV2:
    """MobileNetV2 for ImageNet (1000 classes) with uninitialised weights."""
    return MobileNetV2(1000)
