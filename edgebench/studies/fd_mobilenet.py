"""The FD-MobileNet study (arXiv 1802.03750): the paper's latency claims (Table 4, i.MX 6, one Cortex-A9 at
800 MHz, NCNN), the models `edgebench reproduce fd-mobilenet` runs, and the layer types its explanation
(ShuffleNet's structure costs memory traffic MFLOPs do not show) is judged on."""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.modeling.layer_breakdown import MEMORY

SUITE = "paper"  # the paper's nine models (the zoo's suite)
EXTRA_MODELS = ("effnet",)  # run beside them by reproduce

PAPER_NOTE = (
    "FD-MobileNet paper (arXiv 1802.03750) Table 4: i.MX 6, one core at 800 MHz, NCNN. It prints speedups "
    "only, no absolute ms; ours are ratios of our own figures: the other model's time / FD-MobileNet's time, "
    "both of one kind (measured, modeled or emulated). The paper does not name the ShuffleNet variants it timed "
    "(g=3 at 1x/0.5x/0.25x assumed) and MobileNet 0.125x at the 12 MFLOPs budget is inferred from its text."
)


@dataclass(frozen=True)
class PaperSpeedup:
    """One claim: at a budget, `other` takes `speedup` times as long as FD-MobileNet."""

    budget_mflops: int  # the paper's budget in its own word: MFLOPs that are multiply-adds (M MACs)
    fd_model: str
    other_model: str
    other_family: str
    speedup: float
    source: str


_VS_MOBILENET = "Table 4 (≈1.1 vs MobileNet)"
_VS_SHUFFLENET = "Table 4 (vs ShuffleNet)"
TABLE4: tuple[PaperSpeedup, ...] = (
    PaperSpeedup(140, "fd_mobilenet_1.0x", "mobilenet_v1_0.5x", "MobileNet", 1.1, _VS_MOBILENET),
    PaperSpeedup(40, "fd_mobilenet_0.5x", "mobilenet_v1_0.25x", "MobileNet", 1.1, _VS_MOBILENET),
    PaperSpeedup(12, "fd_mobilenet_0.25x", "mobilenet_v1_0.125x", "MobileNet", 1.11, "abstract (1.11 at 12 MFLOPs)"),
    PaperSpeedup(140, "fd_mobilenet_1.0x", "shufflenet_v1_g3_1.0x", "ShuffleNet", 1.33, _VS_SHUFFLENET),
    PaperSpeedup(40, "fd_mobilenet_0.5x", "shufflenet_v1_g3_0.5x", "ShuffleNet", 1.47, _VS_SHUFFLENET),
    PaperSpeedup(12, "fd_mobilenet_0.25x", "shufflenet_v1_g3_0.25x", "ShuffleNet", 1.82, _VS_SHUFFLENET),
)
PAPER_MODELS = frozenset(m for claim in TABLE4 for m in (claim.fd_model, claim.other_model))


# The brief's "non-convolution" structure: what ShuffleNet's shuffle/concat/bypass units add beyond convolutions.
STRUCTURE_TYPES = ("ShuffleChannel", "Concat", "Split", "Packing", MEMORY, "Pooling", "BinaryOp", "Eltwise",
                   "Slice", "Crop")
