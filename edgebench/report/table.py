"""A report as tables for the terminal, fitted to its width (edgebench.report.layout)."""

from __future__ import annotations

from rich.console import Console

from edgebench.report import cells
from edgebench.report.layers import render_layer_tables
from edgebench.report.layout import Row, print_table
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
    if report.paper is not None:
        console.print()
        paper = [Row(cells.paper_cells(c), (c.why,), style="yellow" if c.caution else _VERDICT_STYLE[c.verdict],
                     note_style=None) for c in report.paper]
        print_table(console, tuple(c.column for c in cells.PAPER_COLUMNS), paper,
                    title="FD-MobileNet paper, Table 4, beside ours", notes=cells.paper_footnotes(), wide=wide,
                    wide_hint=wide_hint)
    render_layer_tables(report.layers, console)
