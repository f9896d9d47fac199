"""The FD-MobileNet paper's latency claims (Table 4, edgebench.studies.fd_mobilenet) beside our own speedups,
with a verdict that says how sure.

Table 4 (i.MX 6, one Cortex-A9 core at 800 MHz, NCNN) prints speedups only: no absolute milliseconds exist
to compare with, so we compare ratios of our own figures and never invent the paper's times.

A verdict is judged on our interval, never on a point value: *consistent* when the paper's speedup lies in
it and it excludes 1 (no speedup); *inconclusive* when it holds both (the model cannot tell whether
FD-MobileNet is faster at all), when there is no interval, or when a leave-one-model-out refit of the latency
model changes the verdict; *inconsistent* when the paper's speedup lies outside it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgebench.modeling import latency_fit as lf
from edgebench.modeling.latency_model import CpuConstants, modeled_ratio
from edgebench.report.rows import BASES, ModelRow
from edgebench.results.result import Basis, Status
from edgebench.studies.fd_mobilenet import PAPER_MODELS, TABLE4, PaperSpeedup

NO_SPEEDUP = 1.0  # an interval holding this cannot tell which model is faster


class Verdict(str, enum.Enum):  # str: JSON writes its value
    CONSISTENT = "consistent"
    INCONSISTENT = "inconsistent"
    INCONCLUSIVE = "inconclusive"


def judge(paper: float, low: float | None, high: float | None) -> Verdict:
    """The verdict of one interval of ours on the paper's speedup (the rule in the module docstring)."""
    if low is None or high is None:
        return Verdict.INCONCLUSIVE
    if not low <= paper <= high:
        return Verdict.INCONSISTENT
    return Verdict.INCONCLUSIVE if low <= NO_SPEEDUP <= high else Verdict.CONSISTENT


@dataclass(frozen=True)
class Refit:
    """Our speedup under another fit of the latency model: another candidate form (point only), or the
    fixed form without one fit model (with its own interval and verdict)."""

    label: str  # "form instructions + l2_misses", "without mobilenet_int8"
    ours: float
    low: float | None
    high: float | None
    verdict: Verdict | None  # None for a form (shown, not judged: the form is fixed in advance)


@dataclass(frozen=True)
class SpeedupComparison:
    claim: PaperSpeedup
    basis: Basis | None  # which latency both models were compared on; None if not comparable
    fd_ms: float | None
    other_ms: float | None
    ours: float | None  # other_ms / fd_ms
    ours_low: float | None  # modeled: 90 % interval (one refit per draw for both); timed: from both medians' 95 % CIs
    ours_high: float | None
    difference: float | None  # ours / paper - 1
    verdict: Verdict | None  # None when not comparable
    why: str  # the verdict in words, or why there is none
    caution: tuple[str, ...] = ()  # models of this pair whose figures carry flags (spread, throttling)
    refits: tuple[Refit, ...] = ()  # modeled: every candidate form and every leave-one-model-out refit


def compare_with_paper(rows: list[ModelRow] | tuple[ModelRow, ...],
                       constants: dict[str, CpuConstants] | None = None) -> tuple[SpeedupComparison, ...]:
    """Our speedup for every Table 4 claim, on the most trusted latency both of its models have. `constants`
    (the ones the rows were modeled with) give modeled ratios their correlated interval and the refits."""
    by_model = {r.model: r for r in rows}
    refits = _RefitCache(constants or {})
    return tuple(_compare(claim, by_model.get(claim.fd_model), by_model.get(claim.other_model), refits)
                 for claim in TABLE4)


def has_paper_models(rows: list[ModelRow] | tuple[ModelRow, ...]) -> bool:
    return any(r.model in PAPER_MODELS for r in rows)


class _RefitCache:
    """Leave-one-model-out refits (each with its own bootstrap: ~0.2 s) made once per constants, not per claim."""

    def __init__(self, table: dict[str, CpuConstants]):
        self.table = table
        self._lomo: dict[str, list[tuple[str, CpuConstants]]] = {}

    def constants_of(self, row: ModelRow) -> CpuConstants | None:
        """The installed constants the row was modeled with (by identity: one CPU has a fit per instruction set)."""
        return next((c for c in self.table.values() if c.identity == row.modeled_constants), None)

    def leave_one_out(self, c: CpuConstants) -> list[tuple[str, CpuConstants]]:
        if c.identity not in self._lomo:
            self._lomo[c.identity] = [(p.model, lf.refit(c, without=(p.model,), uncertainty=True))
                                      for p in c.fit_data] if c.uncertainty is not None else []
        return self._lomo[c.identity]


def _compare(claim: PaperSpeedup, fd: ModelRow | None, other: ModelRow | None, cache: _RefitCache) -> SpeedupComparison:
    pair = ((claim.fd_model, fd), (claim.other_model, other))
    missing = [name for name, row in pair if row is None]
    failed = [name for name, row in pair if row is not None and row.status != Status.OK]
    if missing or failed:
        why = [f"{what}: {', '.join(names)}" for what, names in (("not run", missing), ("failed", failed)) if names]
        return _not_comparable(claim, "; ".join(why))
    basis = next((b for b in BASES if fd.latency(b) is not None and other.latency(b) is not None), None)
    if basis is None:
        return _not_comparable(claim, "no latency of one kind for both models")
    if basis == Basis.EMULATED:  # a ratio of emulator speeds says nothing of the board's
        return _not_comparable(claim, "not modeled: QEMU wall time only, which is how slow the emulator is")
    fd_ms, other_ms = fd.latency(basis), other.latency(basis)
    if fd_ms <= 0:
        return _not_comparable(claim, f"{claim.fd_model} took {fd_ms} ms")
    ours, low, high, refits = other_ms / fd_ms, None, None, ()
    if basis == Basis.MODELED:
        c = cache.constants_of(fd)
        if c is not None and cache.constants_of(other) is c:  # one refit must model both
            ours, low, high = _ratio(c, fd, other)
            refits = _refits(c, fd, other, claim.speedup, cache)
    else:
        (fd_low, fd_high), (other_low, other_high) = fd.ci(basis), other.ci(basis)
        low, high = other_low / fd_high, (other_high / fd_low if fd_low > 0 else None)
    verdict = judge(claim.speedup, low, high)
    why = _why(verdict, claim.speedup, low, high)
    flips = [r for r in refits if r.verdict is not None and r.verdict != verdict]
    if flips:
        why = (f"{verdict.value} with every fit model, but {', '.join(f'{r.verdict.value} {r.label}' for r in flips)}"
               ": the verdict rests on single calibration models")
        verdict = Verdict.INCONCLUSIVE
    # Flags speak of timed samples and the board's state while timing; modeled figures come from exact
    # counts, which neither affects.
    caution = () if basis == Basis.MODELED else tuple(r.model for r in (fd, other) if r.flags or r.wall_time_flags)
    if caution:
        why += f"; caution: {', '.join(caution)} flagged"
    return SpeedupComparison(claim, basis, fd_ms, other_ms, ours, low, high, ours / claim.speedup - 1.0, verdict,
                             why, caution, refits)


def _ratio(c: CpuConstants, fd: ModelRow, other: ModelRow) -> tuple[float, float | None, float | None]:
    macs = lambda r: r.macs_m * 1e6 if r.macs_m else None  # noqa: E731
    return modeled_ratio(c, other.modeled_counts, fd.modeled_counts, clock_mhz=fd.modeled.clock_mhz,
                         num_macs=macs(other), den_macs=macs(fd))


def _refits(c: CpuConstants, fd: ModelRow, other: ModelRow, paper: float, cache: _RefitCache) -> tuple[Refit, ...]:
    if not c.fit_data:
        return ()
    out = []
    for events in lf.FORMS:
        if len(c.fit_data) > len(events):
            ours, _, _ = _ratio(lf.refit(c, events), fd, other)
            out.append(Refit(f"form {' + '.join(events)}", ours, None, None, None))
    for model, refit in cache.leave_one_out(c):
        ours, low, high = _ratio(refit, fd, other)
        out.append(Refit(f"without {model}", ours, low, high, judge(paper, low, high)))
    return tuple(out)


def _why(verdict: Verdict, paper: float, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "inconclusive: no interval (a point value cannot be judged)"
    inside = f"the paper's {paper:.2f}× lies {'inside' if low <= paper <= high else 'outside'} ours ({low:.2f}–{high:.2f})"
    if verdict is Verdict.INCONCLUSIVE:
        return f"inconclusive: {inside}, which also holds 1.00× (no speedup)"
    return f"{verdict.value}: {inside}"


def _not_comparable(claim: PaperSpeedup, why: str) -> SpeedupComparison:
    return SpeedupComparison(claim, None, None, None, None, None, None, None, None, why)
