"""Modeled latency: an emulated run's exact counts -> the milliseconds a real board would take. Modeled, not
measured: every caller labels it so.

    cycles     = sum(cycles_per[event] * count[event])     (per timed iteration, non-negative constants)
    modeled_ms = cycles / (device clock_mhz * 1000)

The constants are per CPU (cycles per instruction, per L1D miss, per L2 miss), fitted by
benchmarks/calibration.py on NCNN's own benchmark models against published single-thread board latencies,
and kept in one place: edgebench/latency_constants.yaml (written by that script, never by hand). A model in
cycles transfers across clocks of the same core (i.MX6 800 MHz from a 766 MHz Zynq); it assumes memory
stalls scale with the clock too, which holds roughly for boards of the same generation.

Why this form: a narrow core like the Cortex-A9 running NCNN's kernels spends its time issuing instructions
and waiting on L1 misses (served by L2) and L2 misses (DRAM); the plugin counts exactly those. Instructions
alone cannot tell mobilenet from mobilenet_int8 (the same 192 M instructions on the A9; 1086 vs 437 ms
published): the fp32 kernels miss L1 five times as often. The calibration script tries the candidate forms
simplest first (instructions; + L2 misses; + L1D misses; NEON/VFP priced apart) and keeps the simplest that
meets the goal on leave-one-out; the constants file records the events chosen and their errors.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from edgebench.errors import EdgebenchError
from edgebench.result import IterationCounts

CONSTANTS_FILE = Path(__file__).with_name("latency_constants.yaml")
CONSTANTS_SCHEMA = "edgebench-latency-constants/1"
# The events a model may use: IterationCounts fields, plus `non_simd` (instructions - simd_fp), which lets
# a form give NEON/VFP data-processing its own cost without double counting.
EVENTS = ("instructions", "non_simd", "simd_fp", "loads", "stores", "l1d_misses", "l1i_misses", "l2_misses")


def event_count(counts: IterationCounts, event: str) -> int:
    if event == "non_simd":
        return counts.instructions - counts.simd_fp
    if event not in EVENTS:
        raise EdgebenchError(f"unknown latency-model event {event!r}", hint=f"one of {', '.join(EVENTS)}")
    return getattr(counts, event)


@dataclass(frozen=True)
class CpuConstants:
    """One CPU's fitted model and where it came from."""

    cpu: str
    cycles_per: dict[str, float]  # event -> cycles per occurrence (>= 0)
    cache: str  # the cache geometry the fit's counts were made with ("l1d=32768:4:32 l1i=... l2=...")
    calibrated_on: str  # the published board and its clock
    fit_models: tuple[str, ...]
    loo_median_abs_error_pct: float
    loo_max_abs_error_pct: float
    note: str = ""

    def cycles(self, counts: IterationCounts) -> float:
        return sum(c * event_count(counts, event) for event, c in self.cycles_per.items())

    def modeled_ms(self, counts: IterationCounts, clock_mhz: float) -> float:
        if clock_mhz <= 0:
            raise EdgebenchError(f"clock {clock_mhz} MHz: a modeled latency needs a positive clock")
        return self.cycles(counts) / (clock_mhz * 1000.0)


def cache_signature(l1d: tuple[int, int, int], l1i: tuple[int, int, int], l2: tuple[int, int, int]) -> str:
    """(size bytes, ways, line bytes) of each level as one comparable string."""
    return " ".join(f"{name}={s}:{w}:{b}" for name, (s, w, b) in (("l1d", l1d), ("l1i", l1i), ("l2", l2)))


def device_cache_signature(device) -> str | None:
    c = device.cache
    if c is None or c.l2 is None:
        return None
    level = lambda lv: (lv.size_kib * 1024, lv.ways, lv.line_bytes)  # noqa: E731
    return cache_signature(level(c.l1d), level(c.l1i), level(c.l2))


# ------------------------------------------------------------------------------------------- the file

def load_constants(path: Path = CONSTANTS_FILE) -> dict[str, CpuConstants]:
    """cpu -> constants; a missing file means no CPU is calibrated, a malformed one is a clear error."""
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise EdgebenchError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(doc, dict) or doc.get("schema") != CONSTANTS_SCHEMA:
        raise EdgebenchError(f"{path}: not a latency-constants file (schema {CONSTANTS_SCHEMA})",
                             hint="regenerate it: python benchmarks/calibration.py --fit-only")
    out = {}
    for cpu, entry in (doc.get("cpus") or {}).items():
        try:
            cycles_per = {str(k): float(v) for k, v in entry["cycles_per"].items()}
            bad = [k for k, v in cycles_per.items() if k not in EVENTS or not (v >= 0 and math.isfinite(v))]
            if bad or not cycles_per:
                raise ValueError(f"bad cycles_per entries {bad or '(none)'}")
            out[str(cpu)] = CpuConstants(
                cpu=str(cpu), cycles_per=cycles_per, cache=str(entry["cache"]),
                calibrated_on=str(entry["calibrated_on"]), fit_models=tuple(entry["fit_models"]),
                loo_median_abs_error_pct=float(entry["loo_median_abs_error_pct"]),
                loo_max_abs_error_pct=float(entry["loo_max_abs_error_pct"]), note=str(entry.get("note", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EdgebenchError(f"{path}: cpu {cpu!r}: {exc}",
                                 hint="regenerate it: python benchmarks/calibration.py --fit-only") from None
    return out


def write_constants(constants: dict[str, CpuConstants], header: str, path: Path = CONSTANTS_FILE) -> None:
    doc = {"schema": CONSTANTS_SCHEMA, "cpus": {
        cpu: {"cycles_per": dict(c.cycles_per), "cache": c.cache, "calibrated_on": c.calibrated_on,
              "fit_models": list(c.fit_models), "loo_median_abs_error_pct": round(c.loo_median_abs_error_pct, 2),
              "loo_max_abs_error_pct": round(c.loo_max_abs_error_pct, 2), "note": c.note}
        for cpu, c in sorted(constants.items())}}
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    path.write_text(comment + yaml.safe_dump(doc, sort_keys=False, width=110))


# ------------------------------------------------------------------------------------------- applying

def modeled_ms_for(device, counters: Sequence[IterationCounts] | None,
                   constants: dict[str, CpuConstants] | None = None) -> float | None:
    """The modeled latency (ms) of one run on `device`: the median over its timed iterations' counts.

    None when there is nothing to model from (no counts) or the device's CPU has no constants, or its
    cache geometry is not the one the constants were fitted with (its miss counts would mean something
    else).
    """
    if not counters:
        return None
    table = load_constants() if constants is None else constants
    c = table.get(device.cpu)
    if c is None or device_cache_signature(device) != c.cache:
        return None
    return statistics.median(c.modeled_ms(counts, device.clock_mhz) for counts in counters)


# ------------------------------------------------------------------------------------------- fitting

@dataclass(frozen=True)
class Fit:
    events: tuple[str, ...]
    cycles_per: tuple[float, ...]

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return rows @ np.asarray(self.cycles_per)


def design(counts: Sequence[IterationCounts], events: Sequence[str]) -> np.ndarray:
    return np.array([[float(event_count(c, e)) for e in events] for c in counts])


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
