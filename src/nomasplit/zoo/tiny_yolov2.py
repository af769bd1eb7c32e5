"""Tiny YOLOv2 (darknet ``yolov2-tiny-voc.cfg``) at two sizes, 17 split units each.

- ``tiny-yolov2``: the paper's reading (Section VI-A: "We use CIFAR-10 dataset"): 3x32x32 input, 10 classes.
  The five stride-2 pools take 32x32 to a 1x1 grid; the last convolution has 5 x (5 + 10) = 75 outputs and
  the region layer decodes 5 boxes. Same layers, same FLOPs per output element, as the VOC model.
- ``tiny-yolov2-voc``: darknet's own VOC network, 3x416x416 input, 20 classes, 13x13 grid (the table below).

Darknet's network: 9 convolutions (the first 8 are 3x3 with batch normalisation and leaky ReLU, slope 0.1; the
last is a 1x1 linear convolution with 125 = 5 anchors x (4 box + 1 objectness + 20 classes) outputs), 6
max-pools (the first five 2x2 stride 2, the sixth 2x2 stride 1 after padding the right and bottom edge with
zeros, so the 13x13 grid is kept), then the region layer that decodes the boxes. Units, in order:

====  =========================================  ==============
unit  modules                                    output shape
====  =========================================  ==============
1     conv1 3x3 16 + BN + leaky                  16x416x416
2     pool1 2x2/2                                16x208x208
3     conv2 3x3 32 + BN + leaky                  32x208x208
4     pool2 2x2/2                                32x104x104
5     conv3 3x3 64 + BN + leaky                  64x104x104
6     pool3 2x2/2                                64x52x52
7     conv4 3x3 128 + BN + leaky                 128x52x52
8     pool4 2x2/2                                128x26x26
9     conv5 3x3 256 + BN + leaky                 256x26x26
10    pool5 2x2/2                                256x13x13
11    conv6 3x3 512 + BN + leaky                 512x13x13
12    pad6 zero padding right and bottom by 1    512x14x14
13    pool6 2x2/1                                512x13x13
14    conv7 3x3 1024 + BN + leaky                1024x13x13
15    conv8 3x3 1024 + BN + leaky                1024x13x13
16    conv9 1x1 125 (linear)                     125x13x13
17    region: decode boxes                       845x25
====  =========================================  ==============

The padding of the stride-1 pool is its own unit (it is a module of its own in PyTorch ports, and a tensor one
could send), and so is the region layer (darknet counts it as a layer too).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

#: The CIFAR-10-size model (the paper's dataset): input shape and classes.
INPUT_SHAPE: tuple[int, ...] = (1, 3, 32, 32)
NUM_CLASSES = 10
#: darknet's VOC model (``tiny-yolov2-voc``): input shape and classes.
VOC_INPUT_SHAPE: tuple[int, ...] = (1, 3, 416, 416)
VOC_NUM_CLASSES = 20
LEAKY_SLOPE = 0.1
#: VOC anchors of yolov2-tiny-voc.cfg, (width, height) in grid cells.
ANCHORS: tuple[tuple[float, float], ...] = (
    (1.08, 1.19),
    (3.42, 4.41),
    (6.63, 11.38),
    (9.42, 5.11),
    (16.62, 10.52),
)


class RegionDecode(nn.Module):
    """Darknet's region layer: raw ``[1, A*(5+C), H, W]`` predictions to ``[1, H*W*A, 5+C]`` boxes.

    Per anchor ``a`` at grid cell ``(row, col)``: ``x = (col + sigmoid(tx)) / W``,
    ``y = (row + sigmoid(ty)) / H``,
    ``w = anchor_w * exp(tw) / W``, ``h = anchor_h * exp(th) / H`` (fractions of the image), objectness
    ``sigmoid(to)`` and class probabilities ``softmax`` over the ``C`` classes. No parameters.
    """

    def __init__(self, anchors: tuple[tuple[float, float], ...], num_classes: int) -> None:
        super().__init__()
        self.anchors = anchors
        self.num_classes = num_classes

    def forward(self, predictions: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = predictions.shape
        num_anchors = len(self.anchors)
        # [batch, anchors, 5 + classes, H, W] -> [batch, H, W, anchors, 5 + classes]
        raw = predictions.view(batch, num_anchors, 5 + self.num_classes, height, width).permute(0, 3, 4, 1, 2)
        cols = torch.arange(width, dtype=raw.dtype, device=raw.device).view(1, 1, width, 1)
        rows = torch.arange(height, dtype=raw.dtype, device=raw.device).view(1, height, 1, 1)
        # [anchors, 2]
        anchor_sizes = torch.tensor(self.anchors, dtype=raw.dtype, device=raw.device)
        x = (cols + torch.sigmoid(raw[..., 0])) / width
        y = (rows + torch.sigmoid(raw[..., 1])) / height
        w = anchor_sizes[:, 0] * torch.exp(raw[..., 2]) / width
        h = anchor_sizes[:, 1] * torch.exp(raw[..., 3]) / height
        objectness = torch.sigmoid(raw[..., 4])
        class_probabilities = torch.softmax(raw[..., 5:], dim=-1)
        boxes = torch.cat([torch.stack([x, y, w, h, objectness], dim=-1), class_probabilities], dim=-1)
        # [batch, H * W * anchors, 5 + classes]
        return boxes.reshape(batch, height * width * num_anchors, 5 + self.num_classes)


def _conv_bn_leaky(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=False),
    )


def build(num_classes: int = NUM_CLASSES) -> nn.Sequential:
    """The tiny YOLOv2 chain with uninitialised weights (call on the ``meta`` device, then initialise).

    The layers do not depend on the input size; ``num_classes`` sets the last convolution's outputs,
    ``5 anchors x (5 + num_classes)``: 75 for CIFAR-10 (:func:`build`), 125 for VOC (:func:`build_voc`).
    """
    units: OrderedDict[str, nn.Module] = OrderedDict()
    channels = (3, 16, 32, 64, 128, 256, 512)
    for index in range(1, 6):
        units[f"conv{index}+bn+leaky"] = _conv_bn_leaky(channels[index - 1], channels[index])
        units[f"pool{index}"] = nn.MaxPool2d(2, stride=2)
    units["conv6+bn+leaky"] = _conv_bn_leaky(256, 512)
    units["pad6"] = nn.ZeroPad2d((0, 1, 0, 1))
    units["pool6"] = nn.MaxPool2d(2, stride=1)
    units["conv7+bn+leaky"] = _conv_bn_leaky(512, 1024)
    units["conv8+bn+leaky"] = _conv_bn_leaky(1024, 1024)
    units["conv9"] = nn.Conv2d(1024, len(ANCHORS) * (5 + num_classes), 1)
    units["region"] = RegionDecode(ANCHORS, num_classes)
    return nn.Sequential(units)


def build_voc() -> nn.Sequential:
    """darknet's VOC tiny YOLOv2 (20 classes, for a 3x416x416 input), uninitialised."""
    return build(VOC_NUM_CLASSES)
