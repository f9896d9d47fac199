"""A report as rows of display strings, shared by the terminal table and the Markdown so both say the same."""

from __future__ import annotations

from edgebench.report.model import Report
from edgebench.report.paper import PAPER_NOTE, TABLE4, TOLERANCE, SpeedupComparison
from edgebench.report.rows import ModelRow

EMULATED_MARK = "†"
MODEL_HEADERS = (
    "Model", "Device", "Median ms", "95% CI ms", "MAD", "n (warm-up)", "Modeled ms", "MFLOPs", "First ms",
    "Load ms", "Peak RSS MB", "Flags",
)  # fmt: skip
PAPER_HEADERS = ("Budget", "FD-MobileNet", "vs", "Paper", "Ours", "Our range", "Ours from", "Diff", "Verdict")


def ms(value: float | None) -> str:
    """Milliseconds to about four significant figures."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    if value >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def model_cells(row: ModelRow) -> tuple[str, ...]:
    s = row.summary
    mark = f" {EMULATED_MARK}" if row.emulator else ""
    return (
        row.model,
        row.device + mark,
        ms(s.median) + mark if s else "–",
        f"{ms(s.ci_low)}–{ms(s.ci_high)}" if s else "–",
        f"{s.mad_ratio:.1%}" if s else "–",
        f"{s.n} ({row.warmup})" if s else "–",
        ms(row.modeled_ms),
        f"{row.mflops:.1f}" if row.mflops is not None else "–",
        ms(row.first_inference_ms),
        ms(row.load_ms),
        f"{row.peak_rss_kb / 1024:.1f}" if row.peak_rss_kb is not None else "–",
        "; ".join(row.flags) or "–",
    )


def footnotes(report: Report) -> list[str]:
    notes = [
        "Median ms, 95% CI, MAD, n: wall time of the timed iterations (bootstrap CI of the median; MAD as % of "
        "the median); warm-up iterations, load time and the first inference are kept apart."
    ]
    emulators = sorted({r.emulator for r in report.rows if r.emulator})
    if emulators:
        notes.append(
            f"{EMULATED_MARK} emulated ({', '.join(emulators)}): QEMU wall time, not the board's latency."
        )
    if any(r.modeled_ms is not None for r in report.rows):
        notes.append("Modeled ms: predicted from counted instructions and cache misses, never measured.")
    return notes


def paper_cells(c: SpeedupComparison) -> tuple[str, ...]:
    range_ = f"{c.ours_low:.2f}–{c.ours_high:.2f}" if c.ours_low is not None and c.ours_high is not None else "–"
    return (
        f"{c.claim.budget_mflops} MFLOPs",
        c.claim.fd_model,
        c.claim.other_model,
        f"{c.claim.speedup:.2f}×",
        f"{c.ours:.2f}×" if c.ours is not None else "–",
        range_,
        c.basis or "–",
        f"{c.difference:+.1%}" if c.difference is not None else "–",
        c.verdict,
    )


def paper_footnotes() -> list[str]:
    sources = sorted({c.source for c in TABLE4})
    return [
        PAPER_NOTE,
        f"Paper speedups from: {'; '.join(sources)}. Ours from: the kind of latency both models have (measured "
        "on a board, else modeled, else emulated wall time).",
        f"Verdict: agrees when ours is within ±{TOLERANCE:.0%} of the paper's. Our range: from both medians' 95% "
        "intervals (none for modeled figures).",
    ]


def title(report: Report) -> str:
    run = report.run
    return f"Run {run.id} · {run.device} · {run.started} · edgebench {run.edgebench_version}"
