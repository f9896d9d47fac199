"""`edgebench models`: the zoo, with complexity counted from each variant's ONNX graph next to the paper's."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import click

from edgebench.cli import main
from edgebench.console import err, print_json, progress, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.models.spec import ModelSpec
from edgebench.display import MACS_HEADER, MACS_NOTE
from edgebench.report.layout import Column, Row, print_table
from edgebench.serde import to_dict

MATCH_TOLERANCE_PCT = 3.0  # a count within this of the paper's figure matches it (issue 4)


@dataclass
class ZooRow:
    """One variant as `edgebench models` shows it."""

    spec: ModelSpec
    macs: int
    params: int
    default_for: str | None  # the family name that resolves to this variant, if it is the default
    mflops_delta_pct: float | None  # counted vs paper, None where the paper gives no figure
    matches_paper: bool | None  # within MATCH_TOLERANCE_PCT; None without a paper figure


# The registry and the counter are imported inside the functions: they pull in torch, which `edgebench --help`
# and every other command should not pay for.
def _select(pattern: str | None, suite: str | None) -> list[str]:
    from edgebench.models.registry import list_models, resolve
    from edgebench.models.registry import suite as suite_models

    names = suite_models(suite) if suite else list_models()
    if pattern:
        # A plain word matches anywhere in the name ("g3", "0.5x", "fd_mobilenet"); globs match exactly.
        glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
        names = [n for n in names if fnmatch.fnmatchcase(n, glob)]
        if not names:
            resolve(pattern)  # an unknown name raises here, with the closest names suggested
            raise EdgebenchError(f"{pattern!r} is not in suite {suite!r}", hint=f"edgebench models {pattern}")
    return names


def _row(name: str) -> ZooRow:
    from edgebench.export.complexity import zoo_complexity
    from edgebench.models.registry import get_spec

    spec = get_spec(name)
    complexity = zoo_complexity(name)
    delta = None if spec.paper.mflops is None else (complexity.macs / 1e6 / spec.paper.mflops - 1) * 100
    return ZooRow(spec=spec, macs=complexity.macs, params=complexity.params,
                  default_for=spec.family if spec.is_default else None, mflops_delta_pct=delta,
                  matches_paper=None if delta is None else abs(delta) <= MATCH_TOLERANCE_PCT)


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


_COLUMNS = (Column("name"), Column("family", 3), Column("width", 4, numeric=True), Column("g", 4, numeric=True),
            Column("input", 2, numeric=True), Column(MACS_HEADER, numeric=True),
            Column("paper MFLOPs", numeric=True), Column("Δ%", numeric=True), Column("params M", 1, numeric=True),
            Column("paper params", 2, numeric=True), Column("top-1", 3, numeric=True),
            Column("budget", 4, numeric=True), Column("note", 1))


def _rows(rows: list[ZooRow]) -> tuple[list[Row], list[str]]:
    notes: list[str] = []
    out = []
    for row in rows:
        spec, paper = row.spec, row.spec.paper
        refs = []
        for text in (paper.mismatch, paper.note):
            if text:
                if text not in notes:
                    notes.append(text)
                refs.append(str(notes.index(text) + 1))
        delta = _fmt(row.mflops_delta_pct, "+.1f")
        style = None
        if row.matches_paper is False:  # "!" = a documented mismatch (see its note), "✗" = a zoo definition broke
            delta, style = (f"{delta}!", "yellow") if paper.mismatch else (f"{delta}✗", "bold red")
        out.append(Row((spec.name, f"{spec.family} ★" if row.default_for else spec.family, f"{spec.width:g}",
                        _fmt(spec.groups, "d"), str(spec.input_size), f"{row.macs / 1e6:.1f}", _fmt(paper.mflops, "g"),
                        delta, f"{row.params / 1e6:.2f}", _fmt(paper.params_m, "g"), _fmt(paper.top1, ".1f"),
                        _fmt(spec.budget_mflops, "d"), ",".join(refs)), style=style))
    return out, notes


@main.command("models")
@click.argument("pattern", required=False)
@click.option("--suite", help="Only this suite's models, e.g. 'paper' (the FD-MobileNet latency table's nine).")
@click.option("--wide", is_flag=True, help="Every column, however wide (default: the columns that fit the terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON on stdout.")
def models_cmd(pattern: str | None, suite: str | None, wide: bool, as_json: bool) -> None:
    """List the model zoo: multiply-adds (MACs) and params counted from each variant's graph, next to the
    papers' figures. The papers (FD-MobileNet, MobileNet, ShuffleNet) count multiply-adds and call them
    "MFLOPs": their "140 MFLOPs" is 140 M MACs here; edgebench says MACs everywhere.

    PATTERN filters variant names: a plain word matches anywhere ("shufflenet", "0.5x"), a glob matches the
    whole name. ★ marks the variant a bare family name resolves to (`edgebench export fd_mobilenet`); "!" on a
    Δ% marks a documented mismatch with the paper (see its note). Your own exports: `edgebench artifacts`.
    Counting exports each variant to ONNX once; counts are cached under the edgebench cache dir
    (EDGEBENCH_CACHE moves it) and recounted when the zoo's code changes.

    \b
    Examples:
      edgebench models
      edgebench models --suite paper
      edgebench models 'shufflenet_v1_g*_1.0x' --json
    """
    names = _select(pattern, suite)
    rows: list[ZooRow] = []
    with progress(transient=True) as bar:
        task = bar.add_task("counting", total=len(names))
        for name in names:
            bar.update(task, description=f"counting {name}")
            rows.append(_row(name))
            bar.advance(task)
    if as_json:
        print_json([to_dict(r) for r in rows])
        return
    table_rows, notes = _rows(rows)
    defaults = ", ".join(f"{r.default_for} → {r.spec.name}" for r in rows if r.default_for)
    console = stdout_console()
    print_table(console, _COLUMNS, table_rows, title="edgebench model zoo", wide=wide or not console.is_terminal,
                notes=[MACS_NOTE, *([f"★ default variant, what a bare family name resolves to: {defaults}"]
                                    if defaults else []),
                       *(f"[{i}] {text}" for i, text in enumerate(notes, 1))],
                wide_hint="`edgebench models --wide` shows every column")
    documented = [r.spec.name for r in rows if r.matches_paper is False and r.spec.paper.mismatch]
    broken = [r.spec.name for r in rows if r.matches_paper is False and not r.spec.paper.mismatch]
    if documented:
        err.print(f"documented mismatch with the paper (not fudged): {', '.join(documented)}")
    if broken:
        raise EdgebenchError(f"counted MFLOPs differ from the paper by more than {MATCH_TOLERANCE_PCT:g} %: "
                             f"{', '.join(broken)}", hint="a zoo definition changed; see tests/test_complexity.py")
