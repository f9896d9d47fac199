"""edgebench.results.stats against hand-computed values and known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgebench.errors import EdgebenchError
from edgebench.results import stats
from edgebench.results.stats import bootstrap_median_ci, summarize


def test_hand_computed_five_samples():
    s = summarize([5.0, 1.0, 4.0, 2.0, 3.0])  # order must not matter
    assert s.n == 5
    assert s.min == 1.0
    assert s.median == 3.0
    assert s.mean == 3.0
    assert s.std == pytest.approx(math.sqrt(2.5))  # sum of squares 10 over n-1 = 4
    assert s.mad == 1.0  # |x - 3| = 2,1,1,0,2 -> median 1
    assert s.p90 == pytest.approx(4.6)  # linear: rank 0.9 * 4 = 3.6 -> 4 + 0.6
    assert s.p99 == pytest.approx(4.96)


def test_mad_ignores_one_outlier_that_moves_mean_and_std():
    base = [10.0] * 10 + [11.0] * 9
    s = summarize(base + [1000.0])
    assert s.median == pytest.approx(10.5)
    assert s.mad == pytest.approx(0.5)
    assert s.mean == pytest.approx((100 + 99 + 1000) / 20)
    assert s.std > 200


def test_two_sample_bootstrap_is_the_exact_percentiles():
    # Resample medians of [a, b] are a (p=1/4), (a+b)/2 (p=1/2) or b (p=1/4): the 2.5 and 97.5 percentiles
    # of 2000 such draws are a and b.
    assert bootstrap_median_ci(np.array([2.0, 4.0])) == (2.0, 4.0)


def test_odd_sample_bootstrap_bounds_are_sample_values():
    x = np.random.default_rng(3).lognormal(3.0, 0.2, size=31)
    s = summarize(x)
    assert s.ci_low in x and s.ci_high in x
    assert s.ci_low <= s.median <= s.ci_high


def test_single_sample():
    s = summarize([7.5])
    assert (s.n, s.min, s.median, s.mean, s.std, s.mad, s.p90, s.p99) == (1, 7.5, 7.5, 7.5, 0.0, 0.0, 7.5, 7.5)
    assert (s.ci_low, s.ci_high) == (7.5, 7.5)
    assert any(f.startswith("few samples") for f in s.flags)


def test_bootstrap_is_deterministic_and_seeded():
    x = np.random.default_rng(0).normal(20.0, 2.0, size=40)
    assert summarize(x) == summarize(list(x))
    xs = np.sort(x)
    one = stats.resampled_medians(xs, 2000, np.random.default_rng(1))
    assert np.array_equal(one, stats.resampled_medians(xs, 2000, np.random.default_rng(1)))
    assert not np.array_equal(one, stats.resampled_medians(xs, 2000, np.random.default_rng(2)))


def test_order_statistic_sampler_matches_efrons_exact_distribution_odd_n():
    # Efron (1979): for odd n, a resample's median is <= x_(j) iff at least k = (n+1)/2 draws are <= x_(j),
    # so P = P(Binomial(n, j/n) >= k).
    n, k, draws = 15, 8, 200_000
    medians = stats.resampled_medians(np.arange(n, dtype=float), draws, np.random.default_rng(7))
    for j in range(1, n + 1):
        exact = sum(math.comb(n, i) * (j / n) ** i * (1 - j / n) ** (n - i) for i in range(k, n + 1))
        assert np.mean(medians <= j - 1) == pytest.approx(exact, abs=0.005), j


def test_order_statistic_sampler_matches_brute_force_resampling_even_n():
    x = np.sort(np.random.default_rng(2).lognormal(0.0, 0.5, size=10))
    draws = 200_000
    fast = stats.resampled_medians(x, draws, np.random.default_rng(8))
    brute = np.median(x[np.random.default_rng(9).integers(0, x.size, size=(draws, x.size))], axis=1)
    grid = np.unique(np.concatenate([fast, brute]))
    ks = np.max(np.abs(np.searchsorted(np.sort(fast), grid, "right") - np.searchsorted(np.sort(brute), grid, "right")))
    assert ks / draws < 0.006  # two-sample KS distance; 0.006 is about the 99.9 % critical value here


def test_normal_distribution_figures():
    x = np.random.default_rng(42).normal(100.0, 4.0, size=20000)
    s = summarize(x)
    assert s.median == pytest.approx(100.0, abs=0.15)
    assert s.std == pytest.approx(4.0, rel=0.02)
    assert s.mad == pytest.approx(0.6745 * 4.0, rel=0.03)  # MAD of a normal is 0.6745 sigma
    assert s.p90 == pytest.approx(100.0 + 1.2816 * 4.0, abs=0.2)
    assert s.p99 == pytest.approx(100.0 + 2.3263 * 4.0, abs=0.4)
    # The median's standard error is sqrt(pi/2) sigma / sqrt(n): the 95% interval spans about 3.92 of them.
    expected_width = 3.92 * math.sqrt(math.pi / 2) * 4.0 / math.sqrt(x.size)
    assert s.ci_high - s.ci_low == pytest.approx(expected_width, rel=0.25)
    assert s.flags == ()


def test_ci_covers_true_median_about_95_percent():
    true_median = 50.0  # lognormal(mu=ln 50) has median 50
    hits = 0
    trials = 200
    for seed in range(trials):
        x = np.random.default_rng(1000 + seed).lognormal(math.log(50.0), 0.1, size=41)
        low, high = bootstrap_median_ci(x)
        hits += low <= true_median <= high
    assert 0.88 <= hits / trials <= 0.995


def test_flags_wide_spread_and_unsure_median():
    x = np.random.default_rng(5).uniform(80.0, 120.0, size=30)
    s = summarize(x)
    assert any(f.startswith("wide spread: MAD is") for f in s.flags)
    assert any(f.startswith("unsure median") for f in s.flags)
    assert not any(f.startswith("few samples") for f in s.flags)


def test_tight_samples_are_not_flagged():
    x = np.random.default_rng(6).normal(100.0, 0.5, size=50)
    assert summarize(x).flags == ()


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, -2.0], [float("inf")]])
def test_bad_samples_are_a_clear_error(bad):
    with pytest.raises(EdgebenchError):
        summarize(bad)
