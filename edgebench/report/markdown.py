"""A report as Markdown, fit for a pull-request comment."""

from __future__ import annotations

from edgebench.modeling.latency_fit import FORM
from edgebench.report import cells
from edgebench.report.boards import BOARD_HEADERS, SPREAD_HEADERS, SPREAD_NOTE, board_cells, board_notes, spread_cells
from edgebench.report.layers import layer_tables_markdown
from edgebench.report.model import Report


def to_markdown(report: Report, verbose: bool = False) -> str:
    lines = [f"### {cells.title(report)}", ""]
    columns = cells.model_columns(report)
    lines += markdown_table((*(c.column.header for c in columns), "Flags"),
                            [(*cells.model_cells(r, columns), "; ".join(cells.row_flags(r, verbose)) or "–")
                             for r in report.rows])
    lines += ["", *(f"- {note}" for note in cells.footnotes(report, verbose))]
    if report.boards is not None:
        lines += ["", "#### Boards of this run", "",
                  *markdown_table(BOARD_HEADERS, [board_cells(b) for b in report.boards.boards])]
        lines += ["", *(f"- {note}" for note in board_notes(report.boards))]
        if report.boards.spreads:
            lines += ["", "#### Spread between boards", "",
                      *markdown_table(SPREAD_HEADERS, [spread_cells(s) for s in report.boards.spreads]), "",
                      f"- {SPREAD_NOTE}"]
    if report.paper is not None:
        lines += ["", "#### FD-MobileNet paper, Table 4, beside ours", ""]
        lines += markdown_table(cells.PAPER_HEADERS, [cells.paper_cells(c) for c in report.paper])
        lines += ["", *(f"- {note}" for note in cells.paper_footnotes())]
        lines += refits_markdown(report)
    lines += layer_tables_markdown(report.layers)
    return "\n".join(lines) + "\n"


def refits_markdown(report: Report) -> list[str]:
    """Each modeled paper speedup under every candidate form and every leave-one-model-out refit: how much
    the conclusion rests on modeling choices."""
    with_refits = [c for c in report.paper or () if c.refits]
    if not with_refits:
        return []
    labels = [r.label for r in with_refits[0].refits]
    headers = ("Budget", "vs", "Paper", "Ours", *labels)
    rows = []
    for c in with_refits:
        by_label = {r.label: r for r in c.refits}
        rows.append((cells.macs_budget(c.claim.budget_mflops), c.claim.other_model, f"{c.claim.speedup:.2f}", f"{c.ours:.2f}",
                     *(_refit_cell(by_label[label]) if label in by_label else "–" for label in labels)))
    return ["", "#### How the verdicts rest on the latency model", "",
            "Our modeled speedup under every candidate form (point) and without each calibration model (with its "
            "interval and verdict: C consistent, I inconsistent, ? inconclusive). The form used is fixed in advance "
            f"({' + '.join(FORM)}); a verdict that any leave-one-model-out refit changes is "
            "reported as inconclusive above.", "", *markdown_table(headers, rows)]


def _refit_cell(r) -> str:
    if r.verdict is None:
        return f"{r.ours:.2f}"
    mark = {"consistent": "C", "inconsistent": "I", "inconclusive": "?"}[r.verdict.value]
    span = f" ({r.low:.2f}–{r.high:.2f})" if r.low is not None else ""
    return f"{r.ours:.2f}{span} {mark}"


def markdown_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return out


def _escape(cell: str) -> str:
    """A pipe would end the cell and a newline the row."""
    return cell.replace("|", "\\|").replace("\n", " ")
