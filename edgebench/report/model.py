"""A report of one stored run: what every output format (table, Markdown, JSON, CSV, plot) lays out."""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.modeling.latency_model import CpuConstants, load_constants
from edgebench.report.boards import BoardComparison, compare_boards
from edgebench.report.layers import LayerTable, layer_tables
from edgebench.report.paper import SpeedupComparison, compare_with_paper
from edgebench.report.rows import ModelRow, build_row
from edgebench.results.result import RunResult
from edgebench.results.store import RunInfo


@dataclass(frozen=True)
class Report:
    run: RunInfo
    rows: tuple[ModelRow, ...]
    paper: tuple[SpeedupComparison, ...] | None  # set when the paper comparison was asked for
    constants: dict[str, CpuConstants]  # the installed constants every modeled figure was (re-)modeled with
    layers: tuple[LayerTable, ...] = ()  # per-layer tables of the results that have them (run --per-layer)
    boards: BoardComparison | None = None  # a run spread over several boards: how they compare


def build_report(run: RunInfo, results: list[RunResult], *, paper: bool = False,
                 constants: dict[str, CpuConstants] | None = None) -> Report:
    table = load_constants() if constants is None else constants
    rows = tuple(build_row(r, table) for r in results)
    return Report(run=run, rows=rows, paper=compare_with_paper(rows, table) if paper else None, constants=table,
                  layers=layer_tables(results, table), boards=compare_boards(results, [r.modeled_ms for r in rows]))


def constants_used(report: Report) -> dict[str, str]:
    """cpu -> identity of the installed constants the report's modeled figures were made with."""
    ids = {r.modeled_constants for r in report.rows if r.modeled_constants}
    return {cpu: c.identity for cpu, c in sorted(report.constants.items()) if c.identity in ids}
