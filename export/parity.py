"""Agreement between two runs of one network on the same input: max abs error, cosine, SQNR.

Thresholds are scale-free (cosine, SQNR) so they mean the same for logits of any magnitude; max abs error is
reported because it is what users compare with other tools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebench.export.manifest import Parity


@dataclass(frozen=True)
class Limit:
    min_cosine: float
    min_sqnr_db: float

    def describe(self) -> str:
        return f"cosine >= {self.min_cosine}, SQNR >= {self.min_sqnr_db:g} dB"


# fp32 end to end: only summation order differs (measured ~3e-7 abs on logits of magnitude ~1, ~130 dB);
# 80 dB still separates it from fp16 storage (~65 dB), which must not pass as fp32.
TIGHT = Limit(min_cosine=0.999999, min_sqnr_db=80.0)
# NCNN's defaults store weights/activations as fp16 (measured 2e-4..8e-4 abs): the settings that get timed.
AS_TIMED = Limit(min_cosine=0.9999, min_sqnr_db=30.0)


def compare(stage: str, reference: np.ndarray, candidate: np.ndarray, limit: Limit) -> Parity:
    ref = np.asarray(reference, dtype=np.float64).ravel()
    cand = np.asarray(candidate, dtype=np.float64).ravel()
    if ref.shape != cand.shape:
        return Parity(stage, float("inf"), 0.0, float("-inf"), False,
                      f"shape mismatch: {ref.size} vs {cand.size} values")
    if not np.all(np.isfinite(cand)):
        return Parity(stage, float("inf"), 0.0, float("-inf"), False, "candidate has NaN/Inf")
    diff = cand - ref
    max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
    denom = float(np.linalg.norm(ref) * np.linalg.norm(cand))
    # clipped: rounding can put the cosine of identical vectors a hair above 1
    cosine = min(1.0, float(np.dot(ref, cand) / denom)) if denom > 0 else (1.0 if max_abs == 0 else 0.0)
    noise = float(np.sum(diff * diff))
    signal = float(np.sum(ref * ref))
    sqnr = float("inf") if noise == 0 else float(10.0 * np.log10(signal / noise)) if signal > 0 else float("-inf")
    passed = bool(cosine >= limit.min_cosine and sqnr >= limit.min_sqnr_db)
    return Parity(stage, max_abs, cosine, sqnr, passed, limit.describe())
