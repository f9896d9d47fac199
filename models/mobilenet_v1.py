"""MobileNet v1 (arXiv 1704.04861) at 224, widths 1.0 / 0.75 / 0.5 / 0.25 / 0.125.

The network class is shared with FD-MobileNet, which differs only in its channel and stride lists (as in the
FD-MobileNet authors' code, `pyvision/models/ImageNet/MobileNet.py`): a 3x3/s2 stem, depthwise-separable blocks
(3x3 DW carrying the stride, then 1x1 PW, each with BN + ReLU), global average pool, FC with bias.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from edgebench.models.layers import ConvNormAct, PoolClassifier, scaled
from edgebench.models.registry import register_model
from edgebench.models.spec import ModelSpec, PaperFigures

STEM_CHANNELS = 32
# Paper Table 1, with the last DW at stride 1 (the table prints s2 but its input and output are both 7x7;
# the FD-MobileNet authors' code uses these strides).
CHANNELS = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__(OrderedDict([
            ("dw", ConvNormAct(in_ch, in_ch, 3, stride=stride, groups=in_ch)),
            ("pw", ConvNormAct(in_ch, out_ch, 1)),
        ]))


class MobileNetV1(nn.Module):
    """Stem + depthwise-separable blocks + classifier; every channel count is `int(c * width)`."""

    def __init__(self, width: float, channels: Sequence[int], strides: Sequence[int], num_classes: int = 1000):
        super().__init__()
        in_ch = scaled(STEM_CHANNELS, width)
        blocks: list[tuple[str, nn.Module]] = [("stem", ConvNormAct(3, in_ch, 3, stride=2))]
        for i, (out, stride) in enumerate(zip(channels, strides, strict=True)):
            out_ch = scaled(out, width)
            blocks.append((f"block{i + 1}", DepthwiseSeparable(in_ch, out_ch, stride)))
            in_ch = out_ch
        self.features = nn.Sequential(OrderedDict(blocks))
        self.head = PoolClassifier(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


_TABLE6 = "MobileNet v1 Table 6 (width multiplier, 224)"


@register_model(
    ModelSpec(name="mobilenet_v1_1.0x", family="mobilenet_v1", width=1.0, input_size=224, is_default=True,
              paper=PaperFigures(mflops=569, top1=70.6, params_m=4.2, source=_TABLE6)),
    ModelSpec(name="mobilenet_v1_0.75x", family="mobilenet_v1", width=0.75, input_size=224,
              paper=PaperFigures(mflops=325, top1=68.4, params_m=2.6, source=_TABLE6)),
    ModelSpec(name="mobilenet_v1_0.5x", family="mobilenet_v1", width=0.5, input_size=224,
              suites=("paper",), budget_mflops=140,
              paper=PaperFigures(mflops=149, top1=63.7, params_m=1.3, source=_TABLE6,
                                 note="FD-MobileNet's 140-MFLOPs comparison model")),
    ModelSpec(name="mobilenet_v1_0.25x", family="mobilenet_v1", width=0.25, input_size=224,
              suites=("paper",), budget_mflops=40,
              paper=PaperFigures(mflops=41, top1=50.6, params_m=0.5, source=_TABLE6,
                                 note="FD-MobileNet's 40-MFLOPs comparison model (FD text: 5.6 below FD 0.5x)")),
    ModelSpec(name="mobilenet_v1_0.125x", family="mobilenet_v1", width=0.125, input_size=224,
              suites=("paper",), budget_mflops=12,
              paper=PaperFigures(top1=39.6, source="FD-MobileNet text (derived)",
                                 note="not in the MobileNet paper; FD-MobileNet's 12-MFLOPs comparison model "
                                      "(its text: last layer 128 channels => width 0.125). No printed MFLOPs "
                                      "(recount 12.09). Top-1 derived: FD 0.25x 45.1 minus the quoted 5.5 gap")),
)
def mobilenet_v1(spec: ModelSpec) -> MobileNetV1:
    return MobileNetV1(spec.width, CHANNELS, STRIDES, spec.num_classes)
