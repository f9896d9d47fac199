"""A report as rich tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from edgebench.report import cells
from edgebench.report.model import Report
from edgebench.report.paper import Verdict

_NUMERIC = set(cells.MODEL_HEADERS[2:-1])  # everything between Device and Flags
_VERDICT_STYLE = {None: None, Verdict.CONSISTENT: "green", Verdict.INCONSISTENT: "red", Verdict.INCONCLUSIVE: "yellow"}


def render_table(report: Report, console: Console) -> None:
    table = Table(title=cells.title(report), title_justify="left", caption_justify="left",
                  caption="\n".join(cells.footnotes(report)))
    for header in cells.MODEL_HEADERS:
        table.add_column(header, justify="right" if header in _NUMERIC else "left", no_wrap=header != "Flags",
                         style="yellow" if header == "Flags" else None, min_width=24 if header == "Flags" else None)
    for row in report.rows:
        table.add_row(*cells.model_cells(row), style="red" if row.status != "ok" else None)
    console.print(table)
    if report.paper is not None:
        paper = Table(title="FD-MobileNet paper, Table 4, beside ours", title_justify="left",
                      caption="\n".join(cells.paper_footnotes()), caption_justify="left")
        for header in cells.PAPER_HEADERS:
            paper.add_column(header, no_wrap=header != "Verdict")
        for comparison in report.paper:
            style = "yellow" if comparison.caution else _VERDICT_STYLE[comparison.verdict]
            paper.add_row(*cells.paper_cells(comparison), style=style)
        console.print(paper)
