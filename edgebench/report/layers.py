"""A report's per-layer tables (`edgebench run --per-layer`).

On a board that is timed, the profiling runtime gives every layer's median time (NCNN_BENCHMARK, 0.01 ms
steps) and its share of their sum, with the profiling overhead; on an emulated board counted with --per-layer,
the exact counts give each layer type's share of the modeled cycles (edgebench.modeling.layer_breakdown). Both end in
the same per-layer-type table, so the two read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rich.console import Console
from rich.table import Table

from edgebench.modeling.latency_model import CpuConstants
from edgebench.modeling.layer_breakdown import breakdown
from edgebench.results.result import LayerTime, RunResult, Status

PROFILE = "profile"  # times measured by the profiling runtime on a board
EMULATED_PROFILE = "emulated profile"  # the same under qemu-user: QEMU's wall time, never the board's
COUNTS = "counts"  # modeled cycles from exact counts


@dataclass(frozen=True)
class TypeShare:
    layer_type: str
    parts: int  # layers of this type (profile), guest functions grouped here (counts)
    ms: float | None  # profile: the sum of its layers' medians; counts: None (modeled cycles have no time)
    share: float  # 0..1


@dataclass(frozen=True)
class LayerTable:
    model: str
    device: str
    source: str  # PROFILE, EMULATED_PROFILE or COUNTS
    note: str  # what the shares are of (and, for a profile, its overhead)
    layers: tuple[LayerTime, ...]  # PROFILE: every layer in the order NCNN ran them; COUNTS: none
    types: tuple[TypeShare, ...]  # largest share first


def _profile_table(r: RunResult) -> LayerTable:
    p = r.layer_profile
    by_type: dict[str, list[LayerTime]] = {}
    for layer in p.layers:
        by_type.setdefault(layer.type, []).append(layer)
    types = sorted((TypeShare(t, len(ls), sum(x.median_ms for x in ls), sum(x.share for x in ls))
                    for t, ls in by_type.items()), key=lambda s: -s.share)
    note = (f"per-layer medians over {p.iterations} profiled iterations (NCNN_BENCHMARK build); share of their "
            f"sum ({sum(x.median_ms for x in p.layers):.2f} ms). Profiled median {p.profiled_ms:.2f} ms vs "
            f"{p.unprofiled_ms:.2f} ms unprofiled: profiling overhead {p.overhead:+.1%}")
    source = EMULATED_PROFILE if r.board.emulated else PROFILE
    return LayerTable(r.model, r.device, source, note, tuple(p.layers), tuple(types))


def _counts_table(r: RunResult, constants: CpuConstants | None) -> LayerTable:
    if constants is not None:
        b = breakdown(r.model, r.layer_breakdown, constants)
        types = [TypeShare(row.cost.layer_type, row.cost.functions, None, row.cycles_share) for row in b.rows]
        note = f"share of the modeled cycles per layer type ({constants.cpu} latency model over exact counts)"
    else:
        total = sum(c.instructions for c in r.layer_breakdown) or 1
        types = sorted((TypeShare(c.layer_type, c.functions, None, c.instructions / total) for c in r.layer_breakdown),
                       key=lambda s: -s.share)
        note = "share of the instructions per layer type (no latency constants for this CPU to model cycles)"
    return LayerTable(r.model, r.device, COUNTS, note, (), tuple(types))


def layer_tables(results: Sequence[RunResult], constants: dict[str, CpuConstants]) -> tuple[LayerTable, ...]:
    """One table per ok result that has a profile or per-layer-type counts."""
    tables = []
    for r in results:
        if r.status != Status.OK:
            continue
        if r.layer_profile is not None:
            tables.append(_profile_table(r))
        elif r.layer_breakdown:
            tables.append(_counts_table(r, constants.get(r.modeled.cpu) if r.modeled else None))
    return tuple(tables)


LAYER_HEADERS = ("#", "Layer", "Type", "Median ms", "Share")
TYPE_HEADERS = ("Layer type", "Layers / functions", "ms", "Share")


def _title(t: LayerTable) -> str:
    how = {PROFILE: "measured", EMULATED_PROFILE: "QEMU wall time †", COUNTS: "modeled from counts"}[t.source]
    return f"Per layer: {t.model} on {t.device} ({how})"


def layer_rows(t: LayerTable) -> list[tuple[str, ...]]:
    return [(str(i), x.name, x.type, f"{x.median_ms:.2f}", f"{x.share:.1%}") for i, x in enumerate(t.layers, 1)]


def type_rows(t: LayerTable) -> list[tuple[str, ...]]:
    return [(s.layer_type, str(s.parts), "–" if s.ms is None else f"{s.ms:.2f}", f"{s.share:.1%}") for s in t.types]


def render_layer_tables(tables: Sequence[LayerTable], console: Console) -> None:
    for t in tables:
        # The note goes under the last table of the two (or the only one).
        for title, headers, rows, note in ((_title(t), LAYER_HEADERS, layer_rows(t), None),
                                           (f"{_title(t)}, per layer type", TYPE_HEADERS, type_rows(t), t.note)):
            if not rows:
                continue
            table = Table(title=title, title_justify="left", caption=note, caption_justify="left")
            for h in headers:
                table.add_column(h, justify="left" if h in ("Layer", "Type", "Layer type") else "right")
            for row in rows:
                table.add_row(*row)
            console.print(table)


def layer_tables_markdown(tables: Sequence[LayerTable]) -> list[str]:
    from edgebench.report.markdown import markdown_table

    lines: list[str] = []
    for t in tables:
        lines += ["", f"#### {_title(t)}", "", t.note, ""]
        if t.layers:
            lines += [*markdown_table(LAYER_HEADERS, layer_rows(t)), ""]
        lines += markdown_table(TYPE_HEADERS, type_rows(t))
    return lines
