"""report.md's "Where the work goes": each model's modeled cycles and counts per NCNN layer type, and, per
FLOP budget, FD-MobileNet against ShuffleNet on the paper's own explanation (ShuffleNet's shuffle/concat/
bypass structure costs memory traffic its multiply-add count does not show). Every sentence is computed from the counts.
"""

from __future__ import annotations

from typing import Sequence

from edgebench.modeling.latency_model import CpuConstants
from edgebench.modeling.layer_breakdown import LayerTypeBreakdown, breakdown
from edgebench.display import macs_budget
from edgebench.results.result import RunResult, Status
from edgebench.studies.fd_mobilenet import STRUCTURE_TYPES, TABLE4


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x:.0f}"


def model_table(b: LayerTypeBreakdown) -> str:
    lines = [f"**{b.model}** ({_si(b.total_cycles)} modeled cycles per iteration on the {b.cpu}"
             + (f", {b.macs / 1e6:.1f} M MACs" if b.macs else "") + ")", "",
             "| layer type | modeled cycles | instructions | L1D misses | L2 misses | bytes moved | functions |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in b.rows:
        c, n = r.cost, r.cost.iterations
        lines.append(f"| {c.layer_type} | {r.cycles_share * 100:.1f} % | {_si(c.instructions / n)} | "
                     f"{_si(c.l1d_misses / n)} | {_si(c.l2_misses / n)} | "
                     f"{_si((c.bytes_loaded + c.bytes_stored) / n)}B | {c.functions} |")
    return "\n".join(lines)


def _per_mac(b: LayerTypeBreakdown, field: str) -> float:
    return b.per_iteration(field) / b.macs


def comparison(budget: int, fd: LayerTypeBreakdown, shuffle: LayerTypeBreakdown) -> str:
    """One computed paragraph: structure share, misses per MAC, and how much of the cycle gap sits in the
    structure layers."""
    fd_share, sh_share = fd.share_of(STRUCTURE_TYPES), shuffle.share_of(STRUCTURE_TYPES)
    text = [f"**{macs_budget(budget)}** — {shuffle.model} vs {fd.model}: shuffle/concat/bypass structure "
            f"({', '.join(STRUCTURE_TYPES)}) takes {sh_share * 100:.1f} % of ShuffleNet's modeled cycles and "
            f"{fd_share * 100:.1f} % of FD-MobileNet's."]
    more_misses = []
    if fd.macs and shuffle.macs:
        for field, label in (("l1d_misses", "L1D"), ("l2_misses", "L2")):
            f_pm, s_pm = _per_mac(fd, field), _per_mac(shuffle, field)
            more_misses.append(s_pm > f_pm)
            text.append(f"{label} misses per MAC: ShuffleNet {s_pm:.4f}, FD-MobileNet {f_pm:.4f} "
                        f"({s_pm / f_pm:.2f}×)." if f_pm else f"{label} misses per MAC: ShuffleNet {s_pm:.4f}, "
                        "FD-MobileNet 0.")
        f_cpm, s_cpm = fd.total_cycles / fd.macs, shuffle.total_cycles / shuffle.macs
        text.append(f"Modeled cycles per MAC: ShuffleNet {s_cpm:.2f}, FD-MobileNet {f_cpm:.2f}.")
    gap = shuffle.total_cycles - fd.total_cycles
    structure_gap = (sum(r.cycles_per_iteration for r in shuffle.rows if r.cost.layer_type in STRUCTURE_TYPES)
                     - sum(r.cycles_per_iteration for r in fd.rows if r.cost.layer_type in STRUCTURE_TYPES))
    if gap > 0:
        text.append(f"ShuffleNet needs {_si(gap)} more modeled cycles per iteration; {structure_gap / gap * 100:.0f} % "
                    "of that difference is in the structure layers.")
    else:
        text.append(f"ShuffleNet needs {_si(-gap)} fewer modeled cycles per iteration than FD-MobileNet.")
    signs = [sh_share > fd_share, *more_misses]
    verdict = ("support" if all(signs) else "partly support" if any(signs) else "do not support")
    text.append(f"These counts {verdict} the paper's explanation here (criteria: a larger structure share "
                "and more L1D and L2 misses per MAC for ShuffleNet; "
                f"{sum(signs)} of {len(signs)} hold).")
    return " ".join(text)


def breakdown_markdown(results: Sequence[RunResult], constants: CpuConstants | None) -> str:
    """The section, or a line saying why there is none (no per-function counts, an uncalibrated CPU)."""
    title = "## Where the work goes\n\n"
    with_costs = [r for r in results if r.status == Status.OK and r.layer_breakdown]
    if not with_costs:
        return title + "No per-layer-type counts in this run (they need an emulated target, counted with symbols on).\n"
    if constants is None:
        return title + "No latency constants for this CPU: the modeled-cycle shares cannot be computed.\n"
    tables = {r.model: breakdown(r.model, r.layer_breakdown, constants,
                                 round(r.mflops * 1e6) if r.mflops else None) for r in with_costs}
    parts = [title + "Exact counts per timed iteration from the QEMU plugin, each guest function mapped to an NCNN "
             "layer type by `edgebench.modeling.layer_breakdown`'s rules (a function's counts stay with it: a memcpy NCNN "
             "does for a Concat is under memory management / copies); modeled cycles use the "
             f"{constants.cpu} latency model ({', '.join(f'{v:.3g}×{k}' for k, v in constants.cycles_per.items())}). "
             "\"bytes moved\" = bytes loaded + stored."]
    parts += [model_table(b) for b in tables.values()]
    pairs = [(c.budget_mflops, tables.get(c.fd_model), tables.get(c.other_model))
             for c in TABLE4 if c.other_family == "ShuffleNet"]
    statements = [comparison(budget, fd, sh) for budget, fd, sh in pairs if fd and sh]
    if statements:
        parts.append("### FD-MobileNet vs ShuffleNet, per budget\n\n" + "\n\n".join(statements))
    return "\n\n".join(parts) + "\n"
