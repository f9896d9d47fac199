"""The significance test real-board checks rest on, in numpy alone (no scipy dependency)."""

from __future__ import annotations

import math

import numpy as np


def mann_whitney_p(x: list[float] | np.ndarray, y: list[float] | np.ndarray) -> float:
    """Two-sided p-value of the Mann-Whitney U test: normal approximation with tie and continuity corrections
    (scipy.stats.mannwhitneyu's "asymptotic" method; numpy only, so no new dependency)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n1, n2 = x.size, y.size
    n = n1 + n2
    _, inverse, ties = np.unique(np.concatenate([x, y]), return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(ties) - (ties - 1) / 2.0  # tied values share the mean of their ranks
    u1 = mean_rank[inverse[:n1]].sum() - n1 * (n1 + 1) / 2.0
    tie_term = float((ties.astype(np.float64) ** 3 - ties).sum()) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sigma == 0:  # every value equal: nothing differs
        return 1.0
    z = (max(u1, n1 * n2 - u1) - n1 * n2 / 2.0 - 0.5) / sigma
    return min(1.0, math.erfc(z / math.sqrt(2.0)))
