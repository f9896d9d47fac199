"""EffNet (arXiv 1801.06434) as its paper defines the block, on 32x32x3 inputs with 10 classes (Cifar10).

Block (paper §3, with what the paper leaves open taken from the reimplementations `arthurdouillard/keras-effnet`
and `andrijdavid/EffNet`):
  1. 1x1 pointwise bottleneck to max(6, out/2) channels,
  2. depthwise 1x3,
  3. max pool (2,1): halves the rows only,
  4. depthwise 3x1,
  5. a 2-tap conv with stride 2 along the columns: halves them and gives the block's output channels.
Every conv is followed by LeakyReLU (slope 0.3) and then BN, as both reimplementations do. No residuals, no
group convs. The 2-tap kernel spans the strided axis, (1,2) in PyTorch's (rows, cols), as the PyTorch
reimplementation has it: every column is seen and no padding is needed. The Keras one writes (2,1) with "same"
padding, a kernel over the already pooled rows that skips every other column; the multiply-adds are the same.
Network: three blocks 3->64->128->256 (bottlenecks 32/64/128), 32x32 -> 4x4, flatten, FC-10.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from edgebench.models.layers import ConvNormAct
from edgebench.models.registry import register_model
from edgebench.models.spec import ModelSpec, PaperFigures

BLOCK_CHANNELS = (64, 128, 256)
MIN_BOTTLENECK = 6


class EffNetBlock(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int):
        mid = max(MIN_BOTTLENECK, out_ch // 2)
        post = {"act": "leaky", "act_first": True}
        super().__init__(OrderedDict([
            ("pw", ConvNormAct(in_ch, mid, 1, **post)),
            ("dw_row", ConvNormAct(mid, mid, (1, 3), groups=mid, **post)),
            ("pool", nn.MaxPool2d((2, 1), stride=(2, 1))),
            ("dw_col", ConvNormAct(mid, mid, (3, 1), groups=mid, **post)),
            ("expand", ConvNormAct(mid, out_ch, (1, 2), stride=(1, 2), padding=0, **post)),
        ]))


class EffNet(nn.Module):
    def __init__(self, in_ch: int = 3, num_classes: int = 10, input_size: int = 32):
        super().__init__()
        blocks = []
        for i, out_ch in enumerate(BLOCK_CHANNELS):
            blocks.append((f"block{i + 1}", EffNetBlock(in_ch, out_ch)))
            in_ch = out_ch
        self.features = nn.Sequential(OrderedDict(blocks))
        side = input_size >> len(BLOCK_CHANNELS)
        self.head = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten(1)),
            ("fc", nn.Linear(in_ch * side * side, num_classes)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(
    ModelSpec(name="effnet_cifar10", family="effnet", width=1.0, input_size=32, num_classes=10, is_default=True,
              paper=PaperFigures(
                  source="EffNet paper §3 (block); network from its reimplementations",
                  note="the paper's Tables 2-4 (layer shapes, FLOPs, accuracy) are images in every copy found: "
                       "no paper MFLOPs or top-1. BN/activation order, pooled axis and depth multiplier 1 "
                       "follow the reimplementations, the (1,2)-stride conv's kernel the PyTorch one; their network "
                       "recounts to about 5.6 M multiply-adds")),
)
def effnet(spec: ModelSpec) -> EffNet:
    return EffNet(spec.in_chans, spec.num_classes, spec.input_size)
