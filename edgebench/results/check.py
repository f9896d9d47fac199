"""Compare a stored run with a baseline, model by model, in a way noise alone can never fail.

Emulated targets: the QEMU plugin's counts are exact and repeatable run to run, so instructions, memory bytes
and cache misses (and the modeled latency computed from them) are compared directly with a small tolerance.
Real boards: wall time is noisy, so a model regresses only when the shift is both significant (Mann-Whitney
U on the raw samples) and large (a minimum effect on the median); either alone is not enough.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.display import MACS_HEADER, ms
from edgebench.results.baseline import Baseline, BaselineModel, median_counts, run_identity
from edgebench.results.result import IterationCounts, RunResult, Status
from edgebench.results.significance import mann_whitney_p
from edgebench.results.stats import MIN_SAMPLES

DEFAULT_TOLERANCE_PCT = 1.0  # emulated: counts are exact, so any real change of the work shows far above this
DEFAULT_MIN_EFFECT_PCT = 5.0  # real boards: smaller shifts are within what clocks and caches do run to run
DEFAULT_ALPHA = 0.01  # real boards: two-sided significance level of the Mann-Whitney U test



class Outcome(str, enum.Enum):  # str: written as its value
    OK = "ok"
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    MISSING = "missing"
    NOT_COMPARABLE = "not comparable"

    def __str__(self) -> str:
        return self.value


class Method(str, enum.Enum):
    """How a model was compared: exact counts (emulated), or a significance test on samples (real boards)."""

    COUNTERS = "counters"
    SIGNIFICANCE = "significance"

    def __str__(self) -> str:
        return self.value

MODELED_MS = "modeled ms"

# What the emulated check compares: each per-iteration figure the counts give, by name.
_COUNT_METRICS: tuple[tuple[str, Callable[[IterationCounts], int]], ...] = (
    ("instructions", lambda c: c.instructions),
    ("memory bytes", lambda c: c.bytes_loaded + c.bytes_stored),
    ("L1 misses", lambda c: c.l1d_misses + c.l1i_misses),
    ("L2 misses", lambda c: c.l2_misses),
)


@dataclass(frozen=True)
class CheckSettings:
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT
    min_effect_pct: float = DEFAULT_MIN_EFFECT_PCT
    alpha: float = DEFAULT_ALPHA
    per_model_pct: dict[str, float] = field(default_factory=dict)  # overrides the baseline file's and defaults

    def limit_pct(self, model: BaselineModel) -> float:
        """This model's threshold: the command line's, else the baseline file's, else the default of its kind."""
        if model.model in self.per_model_pct:
            return self.per_model_pct[model.model]
        if model.tolerance_pct is not None:
            return model.tolerance_pct
        return self.tolerance_pct if model.emulated else self.min_effect_pct


@dataclass(frozen=True)
class MetricChange:
    metric: str  # "instructions", "memory bytes", "L1 misses", "L2 misses", "modeled ms", "median ms"
    baseline: float
    current: float
    change_pct: float  # (current / baseline - 1) in percent; inf when a zero count became non-zero
    limit_pct: float

    @property
    def worse(self) -> bool:
        return self.change_pct > self.limit_pct

    @property
    def better(self) -> bool:
        return self.change_pct < -self.limit_pct

    def describe(self) -> str:
        fmt = ms if self.metric.endswith(" ms") else (lambda v: f"{v:,.0f}")
        return f"{self.metric} {fmt(self.baseline)} -> {fmt(self.current)} ({self.change_pct:+.2f}%)"


@dataclass(frozen=True)
class ModelCheck:
    model: str
    outcome: Outcome
    method: Method | None  # None when nothing could be compared
    limit_pct: float | None
    changes: tuple[MetricChange, ...]
    p_value: float | None  # Mann-Whitney U, two-sided (real boards only)
    detail: str  # the verdict in words, with its figures
    notes: tuple[str, ...] = ()  # worth knowing, not deciding: a changed artifact, a throttled board, a wide spread


@dataclass(frozen=True)
class CheckReport:
    baseline_file: str
    baseline_run: str
    baseline_created: str
    run_id: str
    device: str
    mismatches: tuple[str, ...]  # identity differences compared anyway (--allow-mismatch)
    checks: tuple[ModelCheck, ...]
    not_in_baseline: tuple[str, ...]  # models of the run the baseline does not know (not checked)
    settings: CheckSettings

    def with_outcome(self, *outcomes: Outcome) -> list[ModelCheck]:
        return [c for c in self.checks if c.outcome in outcomes]

    @property
    def exit_code(self) -> int:
        """0 all ok (or better), 1 a regression, 2 something could not be checked (and nothing regressed)."""
        if self.with_outcome(Outcome.REGRESSION):
            return 1
        return 2 if self.with_outcome(Outcome.MISSING, Outcome.NOT_COMPARABLE) else 0

    @property
    def verdict(self) -> str:
        counts = {o: len(self.with_outcome(o))
                  for o in (Outcome.REGRESSION, Outcome.IMPROVEMENT, Outcome.MISSING, Outcome.NOT_COMPARABLE)}
        head = {0: "passed", 1: "REGRESSION", 2: "could not check everything"}[self.exit_code]
        parts = [f"{n} {o}" for o, n in counts.items() if n]
        ok = len(self.with_outcome(Outcome.OK))
        return f"{head}: {ok} of {len(self.checks)} ok" + (f", {', '.join(parts)}" if parts else "")


def check_run(
    baseline: Baseline,
    results: list[RunResult],
    *,
    settings: CheckSettings | None = None,
    models: list[str] | None = None,
    allow_mismatch: bool = False,
    baseline_file: str = "",
) -> CheckReport:
    """Check `models` (default: every model of the baseline) of one run's `results` against `baseline`.

    A run from another device, NCNN version, runtime build, emulator or runner settings is refused with an
    EdgebenchError unless `allow_mismatch`, in which case the differences travel in the report.
    """
    settings = settings or CheckSettings()
    if not results:
        raise EdgebenchError("the run has no results to check", "it may have stopped before its first model finished")
    names = models if models else [m.model for m in baseline.models]
    unknown = [n for n in dict.fromkeys(names) if baseline.model(n) is None]
    unknown += [n for n in settings.per_model_pct if baseline.model(n) is None and n not in unknown]
    if unknown:
        raise EdgebenchError(f"not in the baseline: {', '.join(unknown)}",
                             f"it holds: {', '.join(m.model for m in baseline.models)}")
    ok_results = [r for r in results if r.status == Status.OK]
    identity = run_identity(ok_results or results)
    mismatches = identity.mismatches(baseline.identity)
    if mismatches and not allow_mismatch:
        raise EdgebenchError(
            f"the baseline was made on another setup than run {results[0].run_id}: {'; '.join(mismatches)}",
            "make a new baseline for this setup (edgebench baseline save), or compare anyway with --allow-mismatch",
        )
    by_model = {r.model: r for r in results}
    checks = tuple(
        _check_model(baseline.model(n), by_model.get(n), settings, results[0].run_id) for n in dict.fromkeys(names)
    )
    return CheckReport(
        baseline_file=baseline_file,
        baseline_run=baseline.run_id,
        baseline_created=baseline.created_utc,
        run_id=results[0].run_id,
        device=identity.device,
        mismatches=tuple(mismatches),
        checks=checks,
        not_in_baseline=tuple(r.model for r in results if baseline.model(r.model) is None),
        settings=settings,
    )


def _check_model(b: BaselineModel, r: RunResult | None, settings: CheckSettings, run_id: str) -> ModelCheck:
    limit = settings.limit_pct(b)
    if r is None:
        return ModelCheck(b.model, Outcome.MISSING, None, limit, (), None, f"not in run {run_id}")
    if r.status != Status.OK:
        return _not_comparable(b, limit, f"failed in this run: {r.error or 'no error message'}")
    if r.board.emulated != b.emulated:
        kind = {True: "an emulator", False: "a real board"}
        return _not_comparable(b, limit, f"baseline timed on {kind[b.emulated]}, this run on {kind[r.board.emulated]}")
    notes = _notes(b, r)
    check = _compare_counts(b, r, limit) if b.emulated else _compare_samples(b, r, limit, settings.alpha)
    return dataclasses.replace(check, notes=notes)


def _not_comparable(b: BaselineModel, limit: float, why: str) -> ModelCheck:
    return ModelCheck(b.model, Outcome.NOT_COMPARABLE, None, limit, (), None, why)


def _notes(b: BaselineModel, r: RunResult) -> tuple[str, ...]:
    notes = []
    if r.artifact_sha256 != b.artifact_sha256:
        notes.append(f"artifact changed: sha256 {b.artifact_sha256[:12]} -> {r.artifact_sha256[:12]}")
    if r.mflops is not None and b.mflops is not None and not math.isclose(r.mflops, b.mflops, rel_tol=1e-9):
        notes.append(f"{MACS_HEADER} {b.mflops:.2f} -> {r.mflops:.2f} ({_change_pct(b.mflops, r.mflops):+.1f}%)")
    notes += r.board.flags
    return tuple(notes)


def _compare_counts(b: BaselineModel, r: RunResult, limit: float) -> ModelCheck:
    """Exact counts and the modeled latency, each within ±limit percent."""
    have = {"counters": (b.counters is not None, bool(r.counters)),
            "modeled latency": (b.modeled_ms is not None, r.modeled_ms is not None)}  # fmt: skip
    lost = [what for what, (base, now) in have.items() if base and not now]
    if lost:
        return _not_comparable(b, limit, f"the baseline has {' and '.join(lost)}, this run has none "
                                         "(was it run with counting off?)")
    changes = []
    if b.counters is not None:
        now = median_counts(r.counters)
        changes += [_change(name, get(b.counters), get(now), limit) for name, get in _COUNT_METRICS]
    if b.modeled_ms is not None:
        changes.append(_change(MODELED_MS, b.modeled_ms, r.modeled_ms, limit))
    if not changes:
        return _not_comparable(b, limit, "no counters and no modeled latency: emulated wall time says nothing "
                                         "about the board, so there is nothing to compare")
    worse, better = [c for c in changes if c.worse], [c for c in changes if c.better]
    counts_moved = any(c.worse or c.better for c in changes if c.metric != MODELED_MS)
    if b.counters is not None and (worse or better) and not counts_moved:
        # Modeled ms is a non-negative weighting of the counts: it cannot move alone unless the weights (the
        # latency model's per-CPU constants) changed between the baseline and this run. Not the model's doing.
        (moved,) = worse + better
        return _not_comparable(b, limit, f"{moved.describe()} while every count held within ±{limit:g}%: the "
                                         "latency model's constants changed since the baseline; save a new one")
    if worse:
        outcome, shown = Outcome.REGRESSION, worse
    elif better:
        outcome, shown = Outcome.IMPROVEMENT, better
    else:
        outcome, shown = Outcome.OK, changes
    detail = "; ".join(c.describe() for c in shown)
    detail += f" (tolerance ±{limit:g}%)" if outcome == Outcome.OK else f" (beyond ±{limit:g}%)"
    return ModelCheck(b.model, outcome, Method.COUNTERS, limit, tuple(changes), None, detail)


def _compare_samples(b: BaselineModel, r: RunResult, limit: float, alpha: float) -> ModelCheck:
    """A shift of the median counts when Mann-Whitney U calls it significant AND it is at least `limit` %."""
    n_base, n_now = len(b.samples_ms), len(r.samples_ms)
    if min(n_base, n_now) < MIN_SAMPLES:
        return _not_comparable(b, limit, f"too few samples to test ({n_base} in the baseline, {n_now} now; "
                                         f"need {MIN_SAMPLES}): run more loops")
    change = _change("median ms", float(np.median(b.samples_ms)), float(np.median(r.samples_ms)), limit)
    p = mann_whitney_p(b.samples_ms, r.samples_ms)
    significant = p < alpha
    test = f"Mann-Whitney p={p:.2g} {'<' if significant else '>='} {alpha:g}"
    if significant and change.worse:
        outcome, why = Outcome.REGRESSION, f"{test}, beyond the {limit:g}% minimum effect"
    elif significant and change.better:
        outcome, why = Outcome.IMPROVEMENT, f"{test}, beyond the {limit:g}% minimum effect"
    elif significant:
        outcome, why = Outcome.OK, f"{test}, but within the {limit:g}% minimum effect"
    else:
        outcome, why = Outcome.OK, f"{test}: within noise"
    return ModelCheck(b.model, outcome, Method.SIGNIFICANCE, limit, (change,), p, f"{change.describe()}; {why}")


def _change(metric: str, baseline: float, current: float, limit: float) -> MetricChange:
    return MetricChange(metric, baseline, current, _change_pct(baseline, current), limit)


def _change_pct(baseline: float, current: float) -> float:
    if baseline == 0:
        return 0.0 if current == 0 else math.inf
    return (current / baseline - 1.0) * 100.0
