"""One report row per model: the figures every format shows, each kind of latency kept in its own field."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from edgebench.result import RunResult
from edgebench.stats import Summary, summarize

# Kinds of latency, in the order we trust them. They are never merged into one figure without their label.
MEASURED = "measured"  # median wall time of the timed iterations on a real board
MODELED = "modeled"  # predicted from QEMU instruction and cache-miss counts; never measured
EMULATED = "emulated"  # median wall time under QEMU: says how slow the emulator is, not the board
BASES = (MEASURED, MODELED, EMULATED)
BASIS_LABELS = {
    MEASURED: "measured median ms",
    MODELED: "modeled ms",
    EMULATED: "emulated wall-time median ms (QEMU, not board latency)",
}

# Trailing name tokens that pick a variant rather than a family: width (0.5x), groups (g3), resolution (224),
# data set (cifar10). Mirrors the zoo's naming so reports need not import the zoo (and torch).
_VARIANT_TOKEN = re.compile(r"^(\d+(\.\d+)?x|g\d+|\d+|cifar\d+|imagenet)$")


def family_of(model: str) -> str:
    """fd_mobilenet_0.5x -> fd_mobilenet; shufflenet_v1_g3_1.0x -> shufflenet_v1; effnet_cifar10 -> effnet."""
    tokens = model.split("_")
    while len(tokens) > 1 and _VARIANT_TOKEN.match(tokens[-1]):
        tokens.pop()
    return "_".join(tokens)


@dataclass(frozen=True)
class ModelRow:
    model: str
    family: str
    device: str
    status: str
    error: str | None
    emulator: str | None  # set when the timed samples are emulated wall time
    summary: Summary | None  # of the timed iterations (warm-up excluded); None when the run failed
    warmup: int
    modeled_ms: float | None
    mflops: float | None
    first_inference_ms: float | None
    load_ms: float | None
    peak_rss_kb: int | None
    instructions_per_iter: int | None  # median over iterations (QEMU counters), None without counters
    flags: tuple[str, ...]  # spread, sample count, board state (clock drop, heat), failure

    def latency(self, basis: str) -> float | None:
        """This model's latency of one kind, or None if the run has no figure of that kind."""
        if basis == MODELED:
            return self.modeled_ms
        if self.summary is None or (basis == EMULATED) != (self.emulator is not None):
            return None
        return self.summary.median

    def ci(self, basis: str) -> tuple[float, float] | None:
        """The 95% interval behind `latency(basis)`; modeled figures have none."""
        if basis == MODELED or self.latency(basis) is None:
            return None
        return self.summary.ci_low, self.summary.ci_high


def build_row(result: RunResult) -> ModelRow:
    ok = result.status == "ok"
    summary = summarize(result.samples_ms) if ok and result.samples_ms else None
    flags = [*(summary.flags if summary else ()), *result.board.flags]
    if not ok:
        flags.insert(0, f"failed: {result.error or 'no error message'}")
    elif summary is None:
        flags.append("no timed samples")
    instructions = None
    if result.counters:
        instructions = int(np.median([c.instructions for c in result.counters]))
    return ModelRow(
        model=result.model,
        family=family_of(result.model),
        device=result.device,
        status=result.status,
        error=result.error,
        emulator=(result.board.emulator or "emulator") if result.board.emulated else None,
        summary=summary,
        warmup=result.settings.warmup,
        modeled_ms=result.modeled_ms,
        mflops=result.mflops,
        first_inference_ms=result.first_inference_ms if ok else None,
        load_ms=result.load_ms if ok else None,
        peak_rss_kb=result.peak_rss_kb if ok else None,
        instructions_per_iter=instructions,
        flags=tuple(flags),
    )
