"""ResNet-18 (He, Zhang, Ren and Sun, CVPR 2016) with torchvision's layer layout: a DAG of residual blocks.

The module and attribute names are torchvision's ``resnet18`` (``conv1``, ``bn1``, ``relu``, ``maxpool``,
``layer1`` .. ``layer4`` of two ``BasicBlock`` each, ``avgpool``, ``fc``; a block's shortcut convolution is
``downsample``), so a torchvision state dict loads into it; the shortcut sum is written ``out + identity``
(torchvision adds in place, which changes no value). No weights are shipped: the zoo initialises them from a
seeded generator. Split units, their order and the live set at each split point come from the graph
(:mod:`nomasplit.measure.graph`), not from this file.

``resnet18`` is the CIFAR-10 size of the paper's models (3x32x32 input, 10 classes; the 7x7 stride-2 stem and
the max-pool leave a 1x1 map before the average pool); ``resnet18-imagenet`` the 3x224x224, 1000-class
original (1.82 GMAC).
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPE: tuple[int, ...] = (1, 3, 32, 32)
IMAGENET_INPUT_SHAPE: tuple[int, ...] = (1, 3, 224, 224)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, and the shortcut (a 1x1 stride-s convolution where shapes change)."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's ``resnet18`` layout with ``num_classes`` outputs."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=False)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build() -> ResNet18:
    """ResNet-18 for CIFAR-10 (10 classes) with uninitialised weights."""
    return ResNet18(10)


def build_imagenet() -> ResNet18:
    """ResNet-18 for ImageNet (1000 classes) with uninitialised weights."""
    return ResNet18(1000)
