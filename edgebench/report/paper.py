"""The FD-MobileNet paper's latency claims (Table 4) beside our own speedups.

Table 4 (i.MX 6, one Cortex-A9 core at 800 MHz, NCNN) prints speedups only: no absolute milliseconds exist
to compare with, so we compare ratios of our own figures and never invent the paper's times.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.report.rows import BASES, MODELED, ModelRow

PAPER_NOTE = (
    "FD-MobileNet paper (arXiv 1802.03750) Table 4: i.MX 6, one core at 800 MHz, NCNN. It prints speedups "
    "only, no absolute ms; ours are ratios of our own figures: the other model's time / FD-MobileNet's time, "
    "both of one kind (measured, modeled or emulated). The paper does not name the ShuffleNet variants it timed "
    "(g=3 at 1x/0.5x/0.25x assumed) and MobileNet 0.125x at 12 MFLOPs is inferred from its text."
)
TOLERANCE = 0.15  # our speedup agrees with the paper's when within ±15 % of it


@dataclass(frozen=True)
class PaperSpeedup:
    """One claim: at a budget, `other` takes `speedup` times as long as FD-MobileNet."""

    budget_mflops: int
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


@dataclass(frozen=True)
class SpeedupComparison:
    claim: PaperSpeedup
    basis: str | None  # which latency both models were compared on (rows.BASES); None if not comparable
    fd_ms: float | None
    other_ms: float | None
    ours: float | None  # other_ms / fd_ms
    ours_low: float | None  # conservative range from both medians' 95 % intervals (none for modeled)
    ours_high: float | None
    difference: float | None  # ours / paper - 1
    agrees: bool | None  # within ±TOLERANCE of the paper; None when not comparable
    verdict: str
    caution: tuple[str, ...] = ()  # models of this pair whose figures carry flags (spread, throttling)


def compare_with_paper(rows: list[ModelRow] | tuple[ModelRow, ...]) -> tuple[SpeedupComparison, ...]:
    """Our speedup for every Table 4 claim, on the most trusted latency both of its models have."""
    by_model = {r.model: r for r in rows}
    return tuple(_compare(claim, by_model.get(claim.fd_model), by_model.get(claim.other_model)) for claim in TABLE4)


def has_paper_models(rows: list[ModelRow] | tuple[ModelRow, ...]) -> bool:
    return any(r.model in PAPER_MODELS for r in rows)


def _compare(claim: PaperSpeedup, fd: ModelRow | None, other: ModelRow | None) -> SpeedupComparison:
    pair = ((claim.fd_model, fd), (claim.other_model, other))
    missing = [name for name, row in pair if row is None]
    failed = [name for name, row in pair if row is not None and row.status != "ok"]
    if missing or failed:
        why = [f"{what}: {', '.join(names)}" for what, names in (("not run", missing), ("failed", failed)) if names]
        return _not_comparable(claim, "; ".join(why))
    basis = next((b for b in BASES if fd.latency(b) is not None and other.latency(b) is not None), None)
    if basis is None:
        return _not_comparable(claim, "no latency of one kind for both models")
    fd_ms, other_ms = fd.latency(basis), other.latency(basis)
    if fd_ms <= 0:
        return _not_comparable(claim, f"{claim.fd_model} took {fd_ms} ms")
    ours = other_ms / fd_ms
    low = high = None
    if basis != MODELED:
        (fd_low, fd_high), (other_low, other_high) = fd.ci(basis), other.ci(basis)
        low, high = other_low / fd_high, (other_high / fd_low if fd_low > 0 else None)
    difference = ours / claim.speedup - 1.0
    agrees = abs(difference) <= TOLERANCE
    verdict = f"agrees (within ±{TOLERANCE:.0%})" if agrees else f"differs ({difference:+.0%}, beyond ±{TOLERANCE:.0%})"
    # Flags speak of timed samples and the board's state while timing; modeled figures come from exact
    # counts, which neither affects.
    caution = () if basis == MODELED else tuple(r.model for r in (fd, other) if r.flags)
    if caution:
        verdict += f"; caution: {', '.join(caution)} flagged"
    return SpeedupComparison(claim, basis, fd_ms, other_ms, ours, low, high, difference, agrees, verdict, caution)


def _not_comparable(claim: PaperSpeedup, why: str) -> SpeedupComparison:
    return SpeedupComparison(claim, None, None, None, None, None, None, None, None, why)
