"""Fitting the modeled-latency constants, and the refits that say how sure a modeled figure is.

benchmarks/calibration.py fits with it and writes edgebench/latency_constants.yaml; reports refit with it
(every candidate form, every leave-one-model-out fit) from the fit data that file carries, to show how much a
conclusion rests on modeling choices. Applying constants to counts is edgebench.modeling.latency_model's job.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.modeling import latency_model as lm
from edgebench.results.result import IterationCounts

# Candidate forms, simplest first. They are all fitted and shown; none is *selected* by its fit (a selection
# by error flipped on a small recount, see issue 13). The form used is fixed in advance: FORM.
FORMS: tuple[tuple[str, ...], ...] = (
    ("instructions",),
    ("instructions", "l2_misses"),
    ("instructions", "l1d_misses", "l2_misses"),
    ("non_simd", "simd_fp", "l1d_misses", "l2_misses"),
)
# The rule, fixed before any fit and the same for every CPU: an in-order (A7/A9/A53) or narrow core running
# NCNN's kernels spends its time issuing instructions, waiting on L1D misses served by L2, and waiting on L2
# misses served by DRAM: one constant per cost the plugin counts. NNLS may still price one at 0. The NEON split
# (4 constants on ~8 models) is shown, not used: it has the least data per constant.
FORM = FORMS[2]

BOOTSTRAP_RESAMPLES = 400
BOOTSTRAP_SEED = 180203750  # fixed: the same counts always give the same intervals (arXiv 1802.03750)


@dataclass(frozen=True)
class Fit:
    events: tuple[str, ...]
    cycles_per: tuple[float, ...]

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return rows @ np.asarray(self.cycles_per)


def design(counts: Sequence[IterationCounts], events: Sequence[str]) -> np.ndarray:
    return np.array([[float(lm.event_count(c, e)) for e in events] for c in counts])


def fit_relative_nnls(rows: np.ndarray, cycles: np.ndarray, events: Sequence[str]) -> Fit:
    """Non-negative constants minimising the sum of squared *relative* errors (a 100 ms model matters as
    much as a 1 s one).

    Exact NNLS by trying every subset of events as the free set: with at most a handful of events that is
    a few dozen least-squares solves, and needs nothing beyond numpy.
    """
    n_rows, n_events = rows.shape
    if n_rows < n_events:
        raise EdgebenchError(f"{n_rows} calibration model(s) cannot fix {n_events} constants")
    if np.any(cycles <= 0):
        raise EdgebenchError("published latencies must be positive")
    a = rows / cycles[:, None]
    b = np.ones(n_rows)
    best, best_err = np.zeros(n_events), float(np.sum(b ** 2))
    for k in range(1, n_events + 1):
        for free in itertools.combinations(range(n_events), k):
            sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
            if np.any(sol < 0):
                continue
            x = np.zeros(n_events)
            x[list(free)] = sol
            err = float(np.sum((a @ x - b) ** 2))
            if err < best_err - 1e-15:
                best, best_err = x, err
    return Fit(tuple(events), tuple(float(v) for v in best))


def relative_errors_pct(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return (predicted - truth) / truth * 100.0


def leave_one_out(rows: np.ndarray, cycles: np.ndarray, events: Sequence[str]) -> np.ndarray:
    """Each model's prediction from a fit on all the others."""
    out = np.empty(len(cycles))
    for i in range(len(cycles)):
        keep = np.arange(len(cycles)) != i
        out[i] = fit_relative_nnls(rows[keep], cycles[keep], events).predict(rows[i:i + 1])[0]
    return out


def bootstrap_constants(rows: np.ndarray, cycles: np.ndarray, events: Sequence[str],
                        resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """(resamples, events) constants, each a refit on the fit models drawn with replacement. A draw with no
    more distinct models than constants is drawn again: it would fix the constants with nothing left over."""
    rng = np.random.default_rng(seed)
    n, k = rows.shape
    if n <= k:
        raise EdgebenchError(f"{n} calibration model(s): too few to bootstrap {k} constants")
    out = []
    while len(out) < resamples:
        pick = rng.integers(0, n, n)
        if len(set(pick.tolist())) > k:
            out.append(fit_relative_nnls(rows[pick], cycles[pick], events).cycles_per)
    return np.array(out)


def fit_constants(points: Sequence[lm.FitPoint], events: Sequence[str] = FORM,
                  level: float = lm.INTERVAL_LEVEL) -> tuple[Fit, lm.Uncertainty]:
    """The fit on `points` and the uncertainty a modeled figure from it carries: bootstrap refits (how the
    constants move with the fit set; shared by every model a refit models) and the fit models' leave-one-out
    errors (how far off one unseen model is by itself)."""
    rows = design([p.counts for p in points], events)
    cycles = np.array([p.cycles for p in points])
    fit = fit_relative_nnls(rows, cycles, events)
    loo = leave_one_out(rows, cycles, events)
    boot = bootstrap_constants(rows, cycles, events)
    return fit, lm.Uncertainty(level=level, resamples=tuple(tuple(float(v) for v in r) for r in boot),
                               log_errors=tuple(float(v) for v in np.log(cycles / loo)))


def refit(constants: lm.CpuConstants, events: Sequence[str] | None = None, *, without: Sequence[str] = (),
          uncertainty: bool = False) -> lm.CpuConstants:
    """The CPU's constants fitted again from the fit data they carry: with another form, or without some
    models. Only with `uncertainty` are its intervals recomputed (hundreds of refits); otherwise it has none."""
    if not constants.fit_data:
        raise EdgebenchError(f"the {constants.cpu} constants carry no fit data to refit from",
                             hint="regenerate them: python benchmarks/calibration.py --fit-only")
    points = [p for p in constants.fit_data if p.model not in without]
    events = tuple(events or constants.cycles_per)
    if uncertainty:
        fit, unc = fit_constants(points, events, constants.uncertainty.level if constants.uncertainty
                                 else lm.INTERVAL_LEVEL)
    else:
        fit, unc = fit_relative_nnls(design([p.counts for p in points], events),
                                     np.array([p.cycles for p in points]), events), None
    return lm.CpuConstants(
        cpu=constants.cpu, cycles_per=dict(zip(events, fit.cycles_per)), cache=constants.cache,
        calibrated_on=constants.calibrated_on, fit_models=tuple(p.model for p in points),
        loo_median_abs_error_pct=float("nan"), loo_max_abs_error_pct=float("nan"),
        note=f"refit{' without ' + ', '.join(without) if without else ''} as {' + '.join(events)}",
        uncertainty=unc, fit_data=tuple(points))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(v: Sequence[float]) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for value in np.unique(v):  # ties share their mean rank
            tie = v == value
            r[tie] = r[tie].mean()
        return r

    if len(x) != len(y) or len(x) < 2:
        raise EdgebenchError("rank correlation needs two equally long series of at least 2 values")
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])
