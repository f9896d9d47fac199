"""A report as tables for the terminal, fitted to its width (edgebench.report.layout)."""

from __future__ import annotations

from rich.console import Console

from edgebench.report import cells
from edgebench.report.layers import render_layer_tables
from edgebench.report.boards import (BOARD_HEADERS, SPREAD_HEADERS, SPREAD_NOTE, BoardComparison, board_cells,
                                     board_notes, spread_cells)
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
    columns = tuple(Column(h, priority, numeric=h == "Results")
                    for h, priority in zip(BOARD_HEADERS, (0, 0, 2, 1, 1, 3)))
    print_table(console, columns, [Row(board_cells(b)) for b in boards.boards], title="Boards of this run",
                notes=board_notes(boards), wide=wide, wide_hint=wide_hint)
    if boards.spreads:
        console.print()
        columns = tuple(Column(h, priority, numeric=h == "Spread") for h, priority in zip(SPREAD_HEADERS, (0, 1, 0, 0)))
        print_table(console, columns, [Row(spread_cells(s)) for s in boards.spreads], title="Spread between boards",
                    notes=[SPREAD_NOTE], wide=wide, wide_hint=wide_hint)
