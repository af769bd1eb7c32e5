"""Network in Network (Lin, Chen and Yan, ICLR 2014) for CIFAR-10, 3x32x32 input: 9 split units.

One unit is one convolution with its ReLU (the paper's "layer" of an mlpconv block). The pooling and dropout
that close the first two mlpconv blocks belong to the unit of the block's last 1x1 convolution, and the global
average pooling and flatten that produce the 10 class scores belong to the last unit. The pooling geometry is
the usual PyTorch port of the Caffe model (3x3 stride-2 max-pool, 3x3 stride-2 average-pool, 8x8 global
average-pool).

====  ===========================================  ==============
unit  modules                                      output shape
====  ===========================================  ==============
1     conv1 5x5 192 + ReLU                         192x32x32
2     cccp1 1x1 160 + ReLU                         160x32x32
3     cccp2 1x1 96 + ReLU + max-pool + dropout     96x16x16
4     conv2 5x5 192 + ReLU                         192x16x16
5     cccp3 1x1 192 + ReLU                         192x16x16
6     cccp4 1x1 192 + ReLU + avg-pool + dropout    192x8x8
7     conv3 3x3 192 + ReLU                         192x8x8
8     cccp5 1x1 192 + ReLU                         192x8x8
9     cccp6 1x1 10 + ReLU + global avg-pool + flatten  10
====  ===========================================  ==============
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

INPUT_SHAPE: tuple[int, ...] = (1, 3, 32, 32)
NUM_CLASSES = 10


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.ReLU(inplace=False),
    ]


def build() -> nn.Sequential:
    """The NiN chain with uninitialised weights (call on the ``meta`` device, then initialise)."""
    units: OrderedDict[str, nn.Module] = OrderedDict(
        [
            ("conv1+relu", nn.Sequential(*_conv_relu(3, 192, 5))),
            ("cccp1+relu", nn.Sequential(*_conv_relu(192, 160, 1))),
            (
                "cccp2+relu+maxpool+dropout",
                nn.Sequential(*_conv_relu(160, 96, 1), nn.MaxPool2d(3, stride=2, padding=1), nn.Dropout(0.5)),
            ),
            ("conv2+relu", nn.Sequential(*_conv_relu(96, 192, 5))),
            ("cccp3+relu", nn.Sequential(*_conv_relu(192, 192, 1))),
            (
                "cccp4+relu+avgpool+dropout",
                nn.Sequential(*_conv_relu(192, 192, 1), nn.AvgPool2d(3, stride=2, padding=1), nn.Dropout(0.5)),
            ),
            ("conv3+relu", nn.Sequential(*_conv_relu(192, 192, 3))),
            ("cccp5+relu", nn.Sequential(*_conv_relu(192, 192, 1))),
            (
                "cccp6+relu+gap+flatten",
                nn.Sequential(*_conv_relu(192, NUM_CLASSES, 1), nn.AvgPool2d(8), nn.Flatten(1)),
            ),
        ]
    )
    return nn.Sequential(units)
