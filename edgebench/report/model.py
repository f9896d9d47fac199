"""A report of one stored run: what every output format (table, Markdown, JSON, CSV, plot) lays out."""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.report.paper import SpeedupComparison, compare_with_paper
from edgebench.report.rows import ModelRow, build_row
from edgebench.result import RunResult
from edgebench.store import RunInfo


@dataclass(frozen=True)
class Report:
    run: RunInfo
    rows: tuple[ModelRow, ...]
    paper: tuple[SpeedupComparison, ...] | None  # set when the paper comparison was asked for


def build_report(run: RunInfo, results: list[RunResult], *, paper: bool = False) -> Report:
    rows = tuple(build_row(r) for r in results)
    return Report(run=run, rows=rows, paper=compare_with_paper(rows) if paper else None)
