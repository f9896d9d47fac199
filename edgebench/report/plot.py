"""A report as a PNG: latency vs multiply-adds per family, and our speedups beside the FD-MobileNet paper's.

The paper prints no milliseconds, so its "points" are where its Table 4 speedups put the other models given
our own FD-MobileNet time (hollow markers), drawn at the same MACs as our point for that model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg  # no pyplot: no GUI backend, no global state
from matplotlib.figure import Figure

from edgebench.errors import EdgebenchError
from edgebench.modeling.latency_model import INTERVAL_LEVEL
from edgebench.display import MACS_HEADER, macs_budget
from edgebench.report.model import Report
from edgebench.report.paper import compare_with_paper
from edgebench.report.rows import BASES, BASIS_LABELS, ModelRow
from edgebench.results.result import Basis, Status
from edgebench.results.stats import CONFIDENCE
from edgebench.studies.fd_mobilenet import TABLE4

# Fixed colours for the zoo's families so every plot reads the same; others take the next free ones.
_FAMILY_COLOURS = {
    "fd_mobilenet": "tab:red", "mobilenet_v1": "tab:blue", "shufflenet_v1": "tab:green", "effnet": "tab:orange",
}  # fmt: skip
_SPARE_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
_COMPETITOR_COLOURS = {"MobileNet": "tab:blue", "ShuffleNet": "tab:green"}
_LABEL_OFFSETS = ((6, -12, "left"), (-6, 6, "right"), (6, 6, "left"), (-6, -12, "right"))  # points, per family


@dataclass(frozen=True)
class PlotSummary:
    basis: Basis  # which kind of latency is on the y axis
    plotted: tuple[str, ...]
    left_out: tuple[str, ...]  # models without MACs or without a latency of that kind
    paper_points: int


def plot_latency(report: Report, path: Path | str) -> PlotSummary:
    basis = _pick_basis(report.rows)
    plotted = [r for r in report.rows if r.status == Status.OK and r.macs_m and r.latency(basis) is not None]
    paper = report.paper if report.paper is not None else compare_with_paper(report.rows, report.constants)
    comparisons = [c for c in paper if c.ours is not None]
    fig = Figure(figsize=(13, 5.5) if comparisons else (8, 5.5), layout="constrained")
    axes = fig.subplots(1, 2, width_ratios=(3, 2)) if comparisons else [fig.subplots()]
    colours = _colours(sorted({r.family for r in plotted}))
    paper_points = _latency_axes(axes[0], plotted, basis, colours)
    if comparisons:
        _speedup_axes(axes[1], comparisons)
    run = report.run
    fig.suptitle(f"edgebench run {run.id} on {run.device} ({run.started}): {_of(plotted, basis)}", fontsize=11)
    try:
        FigureCanvasAgg(fig).print_png(str(path))
    except OSError as exc:
        raise EdgebenchError(f"cannot write the plot to {path}: {exc.strerror}") from exc
    left_out = tuple(r.model for r in report.rows if r not in plotted)
    return PlotSummary(basis, tuple(r.model for r in plotted), left_out, paper_points)


def _of(rows: list[ModelRow], basis: Basis) -> str:
    """What the y axis is of: its basis with the CPU(s) and clock(s) the figures name."""
    described = sorted({r.headline.describe() for r in rows if r.headline and r.headline.basis == basis})
    return "; ".join(described) or basis


def _pick_basis(rows: tuple[ModelRow, ...]) -> str:
    """The kind of latency most models have (ties go to the more trusted kind): one kind per axis, never mixed."""
    counts = {b: sum(1 for r in rows if r.status == Status.OK and r.macs_m and r.latency(b) is not None) for b in BASES}
    best = max(BASES, key=lambda b: (counts[b], -BASES.index(b)))
    if counts[best] == 0:
        raise EdgebenchError("nothing to plot: no model of this run has both MACs and a latency")
    return best


def _colours(families: list[str]) -> dict[str, str]:
    spare = iter(c for c in _SPARE_COLOURS if c not in _FAMILY_COLOURS.values())
    return {f: _FAMILY_COLOURS.get(f) or next(spare, "black") for f in families}


def _latency_axes(ax, rows: list[ModelRow], basis: Basis, colours: dict[str, str]) -> int:
    by_model = {r.model: r for r in rows}
    for k, (family, colour) in enumerate(colours.items()):
        members = sorted((r for r in rows if r.family == family), key=lambda r: r.macs_m)
        xs = [r.macs_m for r in members]
        ys = [r.latency(basis) for r in members]
        # A figure without an interval (modeled with constants that carry none) gets no bar, not a zero one.
        cis = [r.ci(basis) or (y, y) for r, y in zip(members, ys)]
        yerr = [[y - lo for y, (lo, _) in zip(ys, cis)], [hi - y for y, (_, hi) in zip(ys, cis)]]
        ax.errorbar(xs, ys, yerr=yerr, fmt="o-", color=colour, capsize=3, label=family)
        for r in members:
            # The variant (0.5x) beside a family's line; a model that is its own family gets its whole name.
            label = r.model.removeprefix(family).strip("_") or r.model
            dx, dy, ha = _LABEL_OFFSETS[k % len(_LABEL_OFFSETS)]  # families' labels apart where lines meet
            ax.annotate(label, (r.macs_m, r.latency(basis)), textcoords="offset points", xytext=(dx, dy), ha=ha,
                        fontsize=7, color=colour)
    implied_points = []
    for claim in TABLE4:
        fd, other = by_model.get(claim.fd_model), by_model.get(claim.other_model)
        if fd is None or other is None:
            continue
        implied = fd.latency(basis) * claim.speedup
        colour = colours[other.family]
        ax.plot([other.macs_m, other.macs_m], [other.latency(basis), implied], ":", color=colour, linewidth=1)
        ax.plot(other.macs_m, implied, "o", markersize=9, markerfacecolor="none", markeredgecolor=colour,
                markeredgewidth=1.5)
        implied_points.append(implied)
    if implied_points:  # one neutral legend entry for the hollow markers of every family
        ax.plot([], [], "o", markersize=9, markerfacecolor="none", markeredgecolor="black",
                label="paper: our FD-MobileNet time × its Table 4 speedup")
    # Both axes from zero: a latency axis cut above zero makes small differences look large.
    tops = [(r.ci(basis) or (0, r.latency(basis)))[1] for r in rows] + implied_points
    ax.set_xlim(0, max(r.macs_m for r in rows) * 1.12)
    ax.set_ylim(0, max(tops) * 1.12)
    ax.set_xlabel(f"{MACS_HEADER} (multiply-adds counted from the graph; the papers' MFLOPs)")
    ax.set_ylabel(BASIS_LABELS[basis])
    interval = f"{INTERVAL_LEVEL:.0%} interval" if basis == Basis.MODELED else f"median, {CONFIDENCE:.0%} CI"
    missing = sum(1 for r in rows if r.ci(basis) is None)
    ax.set_title(f"{basis.capitalize()} latency vs complexity ({interval}"
                 + (f"; {missing} without an interval" if missing else "") + ")", fontsize=10)
    if not implied_points:
        ax.text(0.02, 0.98, "no paper points: the FD-MobileNet paper's Table 4 pairs are not in this run",
                transform=ax.transAxes, va="top", fontsize=7, color="dimgray")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return len(implied_points)


def _speedup_axes(ax, comparisons) -> None:
    """Per budget and competitor: the paper's speedup (hatched) and ours (solid, with its interval), and the
    verdict under each pair."""
    budgets = sorted({c.claim.budget_mflops for c in comparisons}, reverse=True)
    competitors = sorted({c.claim.other_family for c in comparisons})
    width = 0.8 / (2 * len(competitors))
    labelled: set[str] = set()
    for i, budget in enumerate(budgets):
        for j, competitor in enumerate(competitors):
            match = [c for c in comparisons if c.claim.budget_mflops == budget and c.claim.other_family == competitor]
            if not match:
                continue
            c = match[0]
            colour = _COMPETITOR_COLOURS.get(competitor, "tab:gray")
            x = i - 0.4 + width * (2 * j + 0.5)
            ax.bar(x, c.claim.speedup, width, color="white", edgecolor=colour, hatch="//",
                   label=None if competitor in labelled else f"paper vs {competitor}")
            err = None
            if c.ours_low is not None and c.ours_high is not None:
                err = [[c.ours - c.ours_low], [c.ours_high - c.ours]]
            ax.bar(x + width, c.ours, width, yerr=err, color=colour, capsize=3,
                   label=None if competitor in labelled else f"ours vs {competitor}")
            labelled.add(competitor)
            ax.annotate(f"{c.ours:.2f}\n{c.verdict.value if c.verdict else ''}", (x + width, c.ours_high or c.ours),
                        textcoords="offset points", xytext=(0, 3), ha="center", fontsize=6)
    tops = [max(c.claim.speedup, c.ours_high or c.ours) for c in comparisons]
    ax.set_ylim(0, max(tops) * 1.15)  # room for the labels above the tallest interval
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(budgets)), [f"{macs_budget(b)} budget" for b in budgets])
    bases = sorted({BASIS_LABELS[c.basis].split(" (")[0] for c in comparisons})
    ax.set_ylabel("speedup of FD-MobileNet (other time / FD time)")
    ax.set_title(f"FD-MobileNet paper Table 4 vs ours ({', '.join(bases)})", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)  # under the bars, not on them
    ax.grid(True, axis="y", alpha=0.3)
