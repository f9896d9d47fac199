"""FD-MobileNet (arXiv 1802.03750): MobileNet with fast downsampling, 1x / 0.5x / 0.25x at 224.

Layout from the authors' code (`_mobilenet_fast_downsampling_*` in `qinzheng93/FD-MobileNet`): 32x down-
sampling within the first 12 layers, then four 512 blocks and one 1024 block at 7x7. Stride on the DW conv,
`int(c * width)` for every conv including the stem, no conv bias, FC 1000 with bias, no max pool.
"""

from __future__ import annotations

from edgebench.models.mobilenet_v1 import MobileNetV1
from edgebench.models.registry import register_model
from edgebench.models.spec import ModelSpec, PaperFigures

CHANNELS = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 1024)
STRIDES = (2, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1)

_SOURCE = "FD-MobileNet Table 2 / official README"


@register_model(
    ModelSpec(name="fd_mobilenet_1.0x", family="fd_mobilenet", width=1.0, input_size=224, is_default=True,
              suites=("paper",), budget_mflops=140,
              paper=PaperFigures(mflops=144, top1=65.3, source=_SOURCE)),
    ModelSpec(name="fd_mobilenet_0.5x", family="fd_mobilenet", width=0.5, input_size=224,
              suites=("paper",), budget_mflops=40,
              paper=PaperFigures(mflops=40, top1=56.3, source=_SOURCE)),
    ModelSpec(name="fd_mobilenet_0.25x", family="fd_mobilenet", width=0.25, input_size=224,
              suites=("paper",), budget_mflops=12,
              paper=PaperFigures(mflops=12, top1=45.1, source=_SOURCE)),
)
def fd_mobilenet(spec: ModelSpec) -> MobileNetV1:
    return MobileNetV1(spec.width, CHANNELS, STRIDES, spec.num_classes)
