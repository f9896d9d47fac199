"""Building blocks the zoo's families share: conv + norm + activation, channel shuffle, classifier head."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from edgebench.errors import EdgebenchError

# Activations the families use; "leaky" is EffNet's (Keras' default slope 0.3, as its reimplementations use).
_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky": lambda: nn.LeakyReLU(0.3, inplace=True),
}


class ConvNormAct(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> activation, or conv -> activation -> BatchNorm with `act_first`.

    `act_first` is EffNet's order (LeakyReLU then BN, as its reimplementations do); everything else uses
    BN then ReLU. `act=None` leaves the activation out (ShuffleNet's depthwise and linear 1x1 convs).
    Padding is k//2 per axis, so the output is ceil(in/stride) as the papers' shape tables assume.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int | tuple[int, int] = 3,
                 stride: int | tuple[int, int] = 1, groups: int = 1, act: str | None = "relu",
                 act_first: bool = False, padding: int | tuple[int, int] | None = None):
        for name, ch in (("input", in_ch), ("output", out_ch)):
            if ch % groups:
                raise EdgebenchError(f"{name} channels {ch} are not divisible by groups={groups}")
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        pad = (kh // 2, kw // 2) if padding is None else padding
        conv = nn.Conv2d(in_ch, out_ch, (kh, kw), stride=stride, padding=pad, groups=groups, bias=False)
        layers: list[tuple[str, nn.Module]] = [("conv", conv)]
        norm = ("bn", nn.BatchNorm2d(out_ch))
        if act is not None:
            activation = ("act", _ACTIVATIONS[act]())
            layers += [activation, norm] if act_first else [norm, activation]
        else:
            layers.append(norm)
        super().__init__(OrderedDict(layers))


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle as reshape -> transpose -> reshape, so ONNX and NCNN see the pattern.

    Channels are viewed as (groups, channels/groups), transposed and flattened (ShuffleNet v1 paper, §3.1).
    """

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.reshape(n, self.groups, c // self.groups, h, w)
        return x.transpose(1, 2).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class PoolClassifier(nn.Sequential):
    """ImageNet head: global average pool (the papers' 7x7 avg pool at 224), flatten, FC."""

    def __init__(self, in_ch: int, num_classes: int, bias: bool = True):
        super().__init__(OrderedDict([
            ("pool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten(1)),
            ("fc", nn.Linear(in_ch, num_classes, bias=bias)),
        ]))


def scaled(channels: int, width: float, multiple_of: int = 1) -> int:
    """`int(channels * width)` rounded up to a multiple (1 = plain int(), the FD-MobileNet code's rule).

    ShuffleNet needs channels divisible by its groups; the FD-MobileNet authors' ShuffleNet code (the one their
    latency table compares against) rounds `int(c * width)` up to the next multiple of g.
    """
    c = int(channels * width)
    return (c + multiple_of - 1) // multiple_of * multiple_of
