"""VGG16 (Simonyan and Zisserman, configuration D) for CIFAR-10, 3x32x32 input: 24 split units.

The 13 convolutions keep VGG16's channel counts; the classifier is the usual CIFAR-10 head (512 -> 512 -> 512
-> 10, since the last feature map is 512x1x1). Units, in order:

- 13 units "convX_Y+relu": a 3x3 convolution (padding 1) and its ReLU;
- 5 units "poolX": a 2x2 stride-2 max-pool, its own unit (after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3);
- 1 unit "flatten" (512x1x1 -> 512);
- 5 classifier units "fc6+relu", "dropout6", "fc7+relu", "dropout7", "fc8" (dropout is the identity in eval
  mode, but it is a layer of the network and a split point of its own, as in the layer lists of Neurosurgeon).

13 + 5 + 1 + 5 = 24.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

INPUT_SHAPE: tuple[int, ...] = (1, 3, 32, 32)
NUM_CLASSES = 10
HIDDEN_FEATURES = 512

#: Output channels of each convolution, grouped by block; a max-pool closes each block.
BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)


def build() -> nn.Sequential:
    """The VGG16 chain with uninitialised weights (call on the ``meta`` device, then initialise)."""
    units: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 3
    for block_index, block in enumerate(BLOCKS, start=1):
        for conv_index, out_channels in enumerate(block, start=1):
            units[f"conv{block_index}_{conv_index}+relu"] = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=False)
            )
            in_channels = out_channels
        units[f"pool{block_index}"] = nn.MaxPool2d(2, stride=2)
    units["flatten"] = nn.Flatten(1)
    units["fc6+relu"] = nn.Sequential(nn.Linear(in_channels, HIDDEN_FEATURES), nn.ReLU(inplace=False))
    units["dropout6"] = nn.Dropout(0.5)
    units["fc7+relu"] = nn.Sequential(nn.Linear(HIDDEN_FEATURES, HIDDEN_FEATURES), nn.ReLU(inplace=False))
    units["dropout7"] = nn.Dropout(0.5)
    units["fc8"] = nn.Linear(HIDDEN_FEATURES, NUM_CLASSES)
    return nn.Sequential(units)
