"""A report as rows of display strings, shared by the terminal table and the Markdown so both say the same."""

from __future__ import annotations

from edgebench.latency_model import INTERVAL_LEVEL
from edgebench.report.model import Report, constants_used
from edgebench.report.paper import NO_SPEEDUP, PAPER_NOTE, TABLE4, SpeedupComparison
from edgebench.report.rows import ModelRow

EMULATED_MARK = "†"
MODEL_HEADERS = (
    "Model", "Device", "Median ms", "95% CI ms", "MAD", "n (warm-up)", "Modeled ms",
    f"Modeled {INTERVAL_LEVEL:.0%} ms", "MFLOPs", "First ms", "Load ms", "Peak RSS MB", "Flags",
)  # fmt: skip
PAPER_HEADERS = ("Budget", "FD-MobileNet", "vs", "Paper", "Ours", "Our range", "Ours from", "Across refits", "Diff",
                 "Verdict")


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
        _range(row.ci("modeled"), ms),
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
        notes.append(f"Modeled ms: predicted from counted instructions and cache misses, never measured; Modeled "
                     f"{INTERVAL_LEVEL:.0%}: its interval (bootstrap refits of the latency model x its leave-one-out "
                     "errors, benchmarks/calibration_report.md); '–' with a flag when the constants carry none.")
        used = constants_used(report)
        if used:
            notes.append("Modeled with the installed latency constants " +
                         ", ".join(f"{cpu} {ident}" for cpu, ident in used.items()) +
                         " (edgebench/latency_constants.yaml), from each run's stored counts.")
    return notes


def _range(bounds: tuple[float, float] | None, fmt) -> str:
    return f"{fmt(bounds[0])}–{fmt(bounds[1])}" if bounds is not None and None not in bounds else "–"


def across_refits(c: SpeedupComparison) -> str:
    """The spread of our speedup over every candidate form and leave-one-model-out refit."""
    if not c.refits:
        return "–"
    values = [r.ours for r in c.refits]
    return f"{min(values):.2f}–{max(values):.2f} ({len(values)})"


def paper_cells(c: SpeedupComparison) -> tuple[str, ...]:
    range_ = _range((c.ours_low, c.ours_high), lambda v: f"{v:.2f}")
    return (
        f"{c.claim.budget_mflops} MFLOPs",
        c.claim.fd_model,
        c.claim.other_model,
        f"{c.claim.speedup:.2f}×",
        f"{c.ours:.2f}×" if c.ours is not None else "–",
        range_,
        c.basis or "–",
        across_refits(c),
        f"{c.difference:+.1%}" if c.difference is not None else "–",
        c.why,
    )


def paper_footnotes() -> list[str]:
    sources = sorted({c.source for c in TABLE4})
    return [
        PAPER_NOTE,
        f"Paper speedups from: {'; '.join(sources)}. Ours from: the kind of latency both models have (measured "
        "on a board, else modeled, else emulated wall time).",
        f"Our range: modeled, the {INTERVAL_LEVEL:.0%} interval of the ratio (each bootstrap refit models both "
        "models, so the constants' error cancels; each model keeps its own leave-one-out error); measured or "
        "emulated, from both medians' 95% intervals. Across refits: our modeled speedup under every candidate "
        "form and every leave-one-model-out refit (how many in brackets; Markdown lists each).",
        f"Verdict, judged on our range, never on a point value: consistent when the paper's speedup lies in it and "
        f"it excludes {NO_SPEEDUP:.2f}× (no speedup); inconclusive when it holds both, when there is no range, or "
        "when a leave-one-model-out refit gives another verdict; inconsistent when the paper's speedup lies "
        "outside it.",
    ]


def title(report: Report) -> str:
    run = report.run
    return f"Run {run.id} · {run.device} · {run.started} · edgebench {run.edgebench_version}"
