"""A report as tables for the terminal, fitted to its width (edgebench.report.layout)."""

from __future__ import annotations

from rich.console import Console

from edgebench.report import cells
from edgebench.report.layers import render_layer_tables
from edgebench.report.boards import BoardComparison
from edgebench.report.layout import Column, Row, print_table
from edgebench.report.model import Report
from edgebench.report.paper import Verdict
from edgebench.results.result import Status

_VERDICT_STYLE = {None: None, Verdict.CONSISTENT: "green", Verdict.INCONSISTENT: "red", Verdict.INCONCLUSIVE: "yellow"}


def render_table(report: Report, console: Console, *, wide: bool = False, verbose: bool = False,
                 wide_hint: str = "`edgebench report --wide` shows every column") -> None:
    columns = cells.model_columns(report)
    rows = [Row(cells.model_cells(r, columns), tuple(cells.row_flags(r, verbose)),
                style="red" if r.status != Status.OK else None) for r in report.rows]
    print_table(console, tuple(c.column for c in columns), rows, title=cells.title(report),
                notes=cells.footnotes(report, verbose), wide=wide, wide_hint=wide_hint)
    if report.boards is not None:
        render_boards(report.boards, console, wide=wide, wide_hint=wide_hint)
    if report.paper is not None:
        console.print()
        paper = [Row(cells.paper_cells(c), (c.why,), style="yellow" if c.caution else _VERDICT_STYLE[c.verdict],
                     note_style=None) for c in report.paper]
        print_table(console, tuple(c.column for c in cells.PAPER_COLUMNS), paper,
                    title="FD-MobileNet paper, Table 4, beside ours", notes=cells.paper_footnotes(), wide=wide,
                    wide_hint=wide_hint)
    render_layer_tables(report.layers, console)


def render_boards(boards: BoardComparison, console: Console, *, wide: bool, wide_hint: str) -> None:
    """Each board's state, where the boards disagree, and the spread between them per model run on several."""
    console.print()
    sides = [Row((b.name, str(b.results), *(" | ".join(values) or "–" for values in
                                             (b.kernel, b.governor, b.clock_mhz, b.view)))) for b in boards.boards]
    print_table(console, (Column("Board"), Column("Results", numeric=True), Column("Kernel", 2), Column("Governor", 1),
                          Column("Clock MHz", 1), Column("System view", 3)), sides, title="Boards of this run",
                notes=list(boards.disagreements) or ["The boards' state agrees (kernel, governor, clock, system view)."],
                wide=wide, wide_hint=wide_hint)
    if boards.spreads:
        console.print()
        spreads = [Row((s.model, str(s.basis), ", ".join(f"{b} {ms:.1f} ms" for b, ms in s.median_ms),
                        f"{s.spread:.1%}")) for s in boards.spreads]
        print_table(console, (Column("Model"), Column("Median of", 1), Column("Per board"),
                              Column("Spread", numeric=True)), spreads, title="Spread between boards",
                    notes=["Spread: the slowest board's median over the fastest's, minus 1."], wide=wide,
                    wide_hint=wide_hint)
