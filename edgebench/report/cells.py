"""A report as rows of display strings, shared by the terminal table and the Markdown so both say the same."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgebench.display import MACS_HEADER, MACS_NOTE, macs_budget, ms
from edgebench.modeling.latency_model import INTERVAL_LEVEL
from edgebench.report.layout import Column
from edgebench.report.model import Report, constants_used
from edgebench.report.paper import NO_SPEEDUP, SpeedupComparison
from edgebench.report.rows import ModelRow
from edgebench.results.result import Basis, Status
from edgebench.results.stats import CONFIDENCE
from edgebench.studies.fd_mobilenet import PAPER_NOTE, TABLE4

EMULATED_MARK = "†"
@dataclass(frozen=True)
class ModelColumn:
    column: Column
    cell: Callable[[ModelRow], str]


def _emulated(row: ModelRow, text: str) -> str:
    """Mark a wall-time figure taken under QEMU."""
    return f"{text} {EMULATED_MARK}" if row.emulator and text != "–" else text


def _device(row: ModelRow) -> str:
    return row.device if row.board is None else f"{row.device} on {row.board}"


def _latency(row: ModelRow) -> str:
    h = row.headline
    if h is None:
        return "–"
    text = ms(h.ms) + (f" ({ms(h.low_ms)}–{ms(h.high_ms)})" if h.low_ms is not None else "")
    return _emulated(row, text) if h.basis == Basis.EMULATED else text


def _qemu_wall(row: ModelRow) -> str:
    """QEMU's wall-time median, where the headline is something else (the modeled figure)."""
    if row.headline is None or row.headline.basis != Basis.MODELED or row.summary is None:
        return "–"
    return _emulated(row, ms(row.summary.median))


def _spread(row: ModelRow) -> str:
    timed = row.headline is not None and row.headline.basis != Basis.MODELED and row.summary is not None
    return f"{row.summary.mad_ratio:.1%}" if timed else "–"


# The per-model columns of every format, most important first; priority says which the terminal drops first.
MODEL_COLUMNS: tuple[ModelColumn, ...] = (
    ModelColumn(Column("Model"), lambda r: r.model),
    ModelColumn(Column("Latency ms (interval)", numeric=True), _latency),
    ModelColumn(Column("Basis"), lambda r: r.headline.describe() if r.headline else "–"),
    ModelColumn(Column(MACS_HEADER, 1, numeric=True), lambda r: f"{r.macs_m:.1f}" if r.macs_m is not None else "–"),
    ModelColumn(Column("n (warm-up)", 2, numeric=True),
                lambda r: f"{r.summary.n} ({r.warmup})" if r.summary else "–"),
    ModelColumn(Column("Device", 3), lambda r: _emulated(r, _device(r))),
    ModelColumn(Column(f"QEMU ms {EMULATED_MARK}", 3, numeric=True), _qemu_wall),
    ModelColumn(Column("MAD", 4, numeric=True), _spread),
    ModelColumn(Column("Peak RSS MB", 4, numeric=True),
                lambda r: f"{r.peak_rss_kb / 1024:.1f}" if r.peak_rss_kb is not None else "–"),
    ModelColumn(Column("First ms", 5, numeric=True), lambda r: _emulated(r, ms(r.first_inference_ms))),
    ModelColumn(Column("Load ms", 5, numeric=True), lambda r: _emulated(r, ms(r.load_ms))),
)
_QEMU_WALL = MODEL_COLUMNS[6]


def model_columns(report: Report) -> tuple[ModelColumn, ...]:
    """The columns of this report: QEMU's wall time only when some row has one beside its modeled figure."""
    return tuple(c for c in MODEL_COLUMNS if c is not _QEMU_WALL or any(_qemu_wall(r) != "–" for r in report.rows))


def model_cells(row: ModelRow, columns: tuple[ModelColumn, ...] = MODEL_COLUMNS) -> tuple[str, ...]:
    return tuple(c.cell(row) for c in columns)


def row_flags(row: ModelRow, verbose: bool) -> list[str]:
    """The flags shown with a row: always those about its headline; with `verbose` also those about QEMU's
    wall time on a row whose headline is modeled."""
    flags = list(row.flags)
    if verbose:
        flags += [f"QEMU wall time: {f}" for f in row.wall_time_flags]
    return flags


def hidden_wall_time_flags(report: Report) -> int:
    return sum(len(r.wall_time_flags) for r in report.rows)


def footnotes(report: Report, verbose: bool = False) -> list[str]:
    rows = report.rows
    bases = {r.headline.basis for r in rows if r.headline}
    notes = []
    if bases:
        kinds = {
            Basis.MEASURED: f"measured = median wall time of the timed iterations on the board ({CONFIDENCE:.0%} "
                        "bootstrap interval of the median; the clock read before the run)",
            Basis.MODELED: f"modeled = predicted from exactly counted instructions and cache misses for the CPU and "
                     f"clock named, never measured ({INTERVAL_LEVEL:.0%} interval: bootstrap refits of the latency "
                     "model x its leave-one-out errors, benchmarks/calibration_report.md)",
            Basis.EMULATED: f"emulated = QEMU wall time {EMULATED_MARK} (not modeled: nothing was counted, or no "
                      "latency constants cover the CPU): how slow the emulator is, not the board",
        }
        notes.append("Latency ms: " + "; ".join(kinds[b] for b in kinds if b in bases) + ".")
    emulators = sorted({r.emulator for r in rows if r.emulator})
    if emulators:
        hidden = hidden_wall_time_flags(report)
        notes.append(f"{EMULATED_MARK} QEMU wall time ({', '.join(emulators)}: QEMU ms, first inference, load): "
                     "how slow the emulator is, never the board's latency"
                     + (f"; {hidden} flag(s) about it not shown (--verbose shows them)" if hidden and not verbose
                        else "") + ".")
    if any(r.macs_m is not None for r in rows):
        notes.append(MACS_NOTE)
    used = constants_used(report)
    if used:
        notes.append("Modeled with the installed latency constants " +
                     ", ".join(f"{cpu} {ident}" for cpu, ident in used.items()) +
                     " (edgebench/latency_constants.yaml), from each run's stored counts.")
    return notes + device_lines(report)


def device_lines(report: Report) -> list[str]:
    """One line per device and what NCNN detected there (and, emulated, the board view it was shown)."""
    seen: dict[tuple, None] = {}
    for r in report.rows:
        if r.status == Status.OK:
            board_cpu = r.headline.cpu if r.headline and r.headline.basis == Basis.MEASURED else None
            seen[(r.device, board_cpu, r.ncnn_cpu.describe() if r.ncnn_cpu else None, r.system_view)] = None
    lines = []
    for device, board_cpu, cpu, view in seen:
        what = f"NCNN detected {cpu}" if cpu else "what NCNN detected was not recorded (stored before it was)"
        lines.append(f"{device}: " + (f"{board_cpu}; " if board_cpu else "") + what
                     + (f"; system view {view}" if view else ""))
    return lines


def _range(bounds: tuple[float, float] | None, fmt) -> str:
    return f"{fmt(bounds[0])}–{fmt(bounds[1])}" if bounds is not None and None not in bounds else "–"


def across_refits(c: SpeedupComparison) -> str:
    """The spread of our speedup over every candidate form and leave-one-model-out refit."""
    if not c.refits:
        return "–"
    values = [r.ours for r in c.refits]
    return f"{min(values):.2f}–{max(values):.2f} ({len(values)})"


@dataclass(frozen=True)
class PaperColumn:
    column: Column
    cell: Callable[[SpeedupComparison], str]


PAPER_COLUMNS: tuple[PaperColumn, ...] = (
    PaperColumn(Column("Budget", 2), lambda c: macs_budget(c.claim.budget_mflops)),
    PaperColumn(Column("FD-MobileNet"), lambda c: c.claim.fd_model),
    PaperColumn(Column("vs"), lambda c: c.claim.other_model),
    PaperColumn(Column("Paper", numeric=True), lambda c: f"{c.claim.speedup:.2f}×"),
    PaperColumn(Column("Ours", numeric=True), lambda c: f"{c.ours:.2f}×" if c.ours is not None else "–"),
    PaperColumn(Column("Our range", 1), lambda c: _range((c.ours_low, c.ours_high), lambda v: f"{v:.2f}")),
    PaperColumn(Column("Verdict"), lambda c: c.verdict.value if c.verdict else "–"),
    PaperColumn(Column("Ours from", 1), lambda c: c.basis or "–"),
    PaperColumn(Column("Diff", 2, numeric=True), lambda c: f"{c.difference:+.1%}" if c.difference is not None else "–"),
    PaperColumn(Column("Across refits", 3), across_refits),
)
PAPER_HEADERS = tuple(c.column.header for c in PAPER_COLUMNS)


def paper_cells(c: SpeedupComparison) -> tuple[str, ...]:
    return tuple(col.cell(c) for col in PAPER_COLUMNS)


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
