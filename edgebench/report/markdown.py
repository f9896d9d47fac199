"""A report as Markdown, fit for a pull-request comment."""

from __future__ import annotations

from edgebench.report import cells
from edgebench.report.model import Report


def to_markdown(report: Report) -> str:
    lines = [f"### {cells.title(report)}", ""]
    lines += markdown_table(cells.MODEL_HEADERS, [cells.model_cells(r) for r in report.rows])
    lines += ["", *(f"- {note}" for note in cells.footnotes(report))]
    if report.paper is not None:
        lines += ["", "#### FD-MobileNet paper, Table 4, beside ours", ""]
        lines += markdown_table(cells.PAPER_HEADERS, [cells.paper_cells(c) for c in report.paper])
        lines += ["", *(f"- {note}" for note in cells.paper_footnotes())]
    return "\n".join(lines) + "\n"


def markdown_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return out


def _escape(cell: str) -> str:
    """A pipe would end the cell and a newline the row."""
    return cell.replace("|", "\\|").replace("\n", " ")
