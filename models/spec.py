"""What a zoo entry declares once: its architecture knobs and the paper's numbers for it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PaperFigures:
    """Numbers a paper prints for this exact variant; None where the paper gives none."""

    mflops: float | None = None  # multiply-adds, millions (the papers' "MFLOPs")
    top1: float | None = None  # ImageNet (or the paper's data set) top-1 accuracy, %
    imx6_ms: float | None = None  # i.MX6 latency, ms: never printed by the papers; kept so manifests written with it still load
    params_m: float | None = None  # parameters, millions, where the paper prints them (MobileNet v1 Table 6)
    source: str = ""  # where the figures come from, e.g. "MobileNet v1 Table 6"
    note: str = ""  # caveats: derived figures, choices where the paper is silent or unreadable
    mismatch: str = ""  # set when our count cannot match `mflops` within 3 % without fudging: why


@dataclass(frozen=True)
class ModelSpec:
    """One registered variant, e.g. fd_mobilenet_1.0x."""

    name: str
    family: str
    width: float
    input_size: int
    groups: int | None = None
    in_chans: int = 3
    num_classes: int = 1000
    paper: PaperFigures = field(default_factory=PaperFigures)
    is_default: bool = False  # what the bare family name resolves to
    suites: tuple[str, ...] = ()
    budget_mflops: int | None = None  # the FD-MobileNet latency table budget this variant sits in

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.in_chans, self.input_size, self.input_size)
