"""Summary statistics of timed samples, in the manner of pyperf: keep every sample, report robust figures.

The median (with a bootstrap confidence interval) is the headline: timing noise is one-sided (interrupts,
cache pollution, clock changes only ever add time), so the mean and std are shown but never lead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from edgebench.errors import EdgebenchError

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20180211  # fixed: the same samples always give the same interval
CONFIDENCE = 0.95

# Below this many samples a bootstrap interval of the median is too coarse to trust.
MIN_SAMPLES = 10
# Relative MAD above which a run is too noisy to compare small differences (pyperf warns at 10 % std/mean;
# the MAD is about 0.67 std for normal noise, so 5 % is the same order, but robust to outliers).
WIDE_MAD_RATIO = 0.05
# Width of the 95 % interval of the median, relative to the median, above which the median itself is unsure.
WIDE_CI_RATIO = 0.10


def median(values: list[float] | np.ndarray) -> float:
    """The median (the mean of the two middle values for an even count): the one every timing figure uses."""
    return float(np.median(values))


@dataclass(frozen=True)
class Summary:
    """Robust statistics of one model's timed iterations (milliseconds); warm-up iterations are not in it."""

    n: int
    min: float
    median: float
    mean: float
    std: float  # sample standard deviation (n - 1); 0.0 for a single sample
    mad: float  # median absolute deviation from the median, unscaled (as pyperf reports it)
    p90: float
    p99: float
    ci_low: float  # bootstrap 95% interval of the median (percentile method)
    ci_high: float
    flags: tuple[str, ...] = ()  # why these figures deserve caution, in words

    @property
    def mad_ratio(self) -> float:
        return self.mad / self.median if self.median > 0 else math.inf

    @property
    def ci_ratio(self) -> float:
        return (self.ci_high - self.ci_low) / self.median if self.median > 0 else math.inf


def summarize(samples_ms: list[float] | np.ndarray, *, seed: int = BOOTSTRAP_SEED) -> Summary:
    """Summarise timed samples; raises EdgebenchError for no samples or values that are not times."""
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise EdgebenchError("no timed samples to summarise", "the run recorded no iterations (did it fail?)")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        bad = x[~np.isfinite(x) | (x < 0)][0]
        raise EdgebenchError(f"a timed sample is {bad!r} ms; times must be finite and non-negative")
    middle = median(x)
    ci_low, ci_high = bootstrap_median_ci(x, seed=seed)
    summary = Summary(
        n=int(x.size),
        min=float(x.min()),
        median=middle,
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        mad=median(np.abs(x - middle)),
        p90=float(np.percentile(x, 90)),
        p99=float(np.percentile(x, 99)),
        ci_low=ci_low,
        ci_high=ci_high,
    )
    return replace(summary, flags=spread_flags(summary))


def bootstrap_median_ci(
    x: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median: the middle `confidence` of `resamples` resampled medians."""
    medians = resampled_medians(np.sort(np.asarray(x, dtype=np.float64)), resamples, np.random.default_rng(seed))
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(medians, [tail, 100.0 - tail])
    return float(low), float(high)


def resampled_medians(sorted_x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples (n draws with replacement) of `sorted_x`, in O(resamples).

    A resample's median is sorted_x at the median of its n drawn indices, and those indices are floor(n * U)
    for n uniforms U; floor is monotone, so the k-th smallest index is floor(n * U_(k)), where the k-th order
    statistic U_(k) ~ Beta(k, n - k + 1). For even n the next one is U_(k) plus (1 - U_(k)) * Beta(1, n - k)
    (the smallest of the n - k uniforms above it). Same distribution as drawing n indices per resample, without
    the n: 2000 resamples of 100 000 samples take milliseconds, not seconds.
    """
    n = sorted_x.size
    k = (n + 1) // 2  # 1-based rank of the (lower) middle element
    u_k = rng.beta(k, n - k + 1, size=resamples)
    lower = sorted_x[np.minimum((u_k * n).astype(np.int64), n - 1)]
    if n % 2:
        return lower
    u_next = u_k + (1.0 - u_k) * rng.beta(1, n - k, size=resamples)
    return (lower + sorted_x[np.minimum((u_next * n).astype(np.int64), n - 1)]) / 2.0


def spread_flags(s: Summary) -> tuple[str, ...]:
    """Plain-words cautions about a summary: too few samples, or a spread too wide to trust small differences."""
    flags = []
    if s.n < MIN_SAMPLES:
        flags.append(f"few samples: {s.n} < {MIN_SAMPLES}, the interval is coarse")
    if s.mad_ratio > WIDE_MAD_RATIO:
        flags.append(f"wide spread: MAD is {s.mad_ratio:.1%} of the median (> {WIDE_MAD_RATIO:.0%})")
    if s.ci_ratio > WIDE_CI_RATIO:
        flags.append(f"unsure median: 95% CI spans {s.ci_ratio:.1%} of it (> {WIDE_CI_RATIO:.0%})")
    return tuple(flags)
