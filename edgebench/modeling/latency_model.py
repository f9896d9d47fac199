"""Modeled latency: an emulated run's exact counts -> the milliseconds a real board would take, with an
interval. Modeled, not measured: every caller labels it so.

    cycles     = sum(cycles_per[event] * count[event])     (per timed iteration, non-negative constants)
    modeled_ms = max(cycles / (clock_mhz * 1000), compute floor)

The constants are per CPU (cycles per instruction, per L1D miss, per L2 miss), fitted by
benchmarks/calibration.py (with edgebench.modeling.latency_fit) on NCNN's own benchmark models against published
single-thread board latencies, and kept in one place: edgebench/latency_constants.yaml (written by that
script, never by hand). A model in cycles transfers across clocks of the same core (i.MX6 800 MHz from a
766 MHz Zynq); it assumes memory stalls scale with the clock too (see the calibration report for a test).

How sure: the file also carries the constants of bootstrap refits (the fit models drawn with replacement) and
the fit models' leave-one-out errors. A figure's interval spans refit x own-error draws: every (refit, error)
pair, so no random numbers are drawn at run time. A ratio of two models on one device uses one refit for both
(the constants' error cancels), each model its own error draw (one model's error says nothing of another's).

The compute floor: no core multiplies faster than its NEON peak, so a modeled figure below MACs / (peak MAC per
cycle * clock) is clamped to it and flagged. Counts outside the fit models' range are flagged as extrapolation.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from edgebench.atomic import write_atomically
from edgebench.errors import EdgebenchError
from edgebench.results.result import IterationCounts, ModeledLatency

CONSTANTS_FILE = Path(__file__).parents[1] / "latency_constants.yaml"  # package data of edgebench itself
CONSTANTS_SCHEMA = "edgebench-latency-constants/2"
# Schema 1 (no interval data, no fit data) is still read: its figures come without an interval and say so.
OLD_SCHEMAS = ("edgebench-latency-constants/1",)
# The events a model may use: IterationCounts fields, plus `non_simd` (instructions - simd_fp), which lets
# a form give NEON/VFP data-processing its own cost without double counting.
EVENTS = ("instructions", "non_simd", "simd_fp", "loads", "stores", "l1d_misses", "l1i_misses", "l2_misses")
INTERVAL_LEVEL = 0.9

# fp32 multiply-adds per cycle at the NEON peak (every zoo model is fp32): Cortex-A7/A9 have a 64-bit NEON
# datapath (a 4-lane VMLA.F32 q issues over 2 cycles); the A53 issues one 128-bit FMLA per cycle; the A72 has
# two 128-bit NEON pipes. An overestimate only lowers the floor, so where in doubt these err high.
NEON_FP32_MAC_PER_CYCLE = {"cortex-a7": 2, "cortex-a9": 2, "cortex-a53": 4, "cortex-a72": 8}

NO_INTERVAL_FLAG = "no interval: these constants carry no interval data (an older constants file)"


def event_count(counts: IterationCounts, event: str) -> int:
    if event == "non_simd":
        return counts.instructions - counts.simd_fp
    if event not in EVENTS:
        raise EdgebenchError(f"unknown latency-model event {event!r}", hint=f"one of {', '.join(EVENTS)}")
    return getattr(counts, event)


def interval(samples: np.ndarray | Sequence[float], level: float) -> tuple[float, float]:
    """The central `level` interval of draws (percentiles): the one home of every modeled interval."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(samples, dtype=float), [tail, 1.0 - tail])
    return float(low), float(high)


def compute_floor_ms(cpu: str, macs: float | None, clock_mhz: float) -> float | None:
    """The fastest the core could do `macs` fp32 multiply-adds; None when either is unknown."""
    peak = NEON_FP32_MAC_PER_CYCLE.get(cpu)
    if peak is None or not macs:
        return None
    return macs / (peak * clock_mhz * 1000.0)


@dataclass(frozen=True)
class FitPoint:
    """One calibration model: its counts and its published latency in cycles of the calibration board."""

    model: str
    counts: IterationCounts
    cycles: float


@dataclass(frozen=True)
class Uncertainty:
    level: float
    resamples: tuple[tuple[float, ...], ...]  # constants of each bootstrap refit, in cycles_per's order
    log_errors: tuple[float, ...]  # per fit model: log(published / leave-one-out modeled)


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
    uncertainty: Uncertainty | None = None  # None in an older file: figures come without an interval
    fit_data: tuple[FitPoint, ...] = ()  # empty in an older file: no range check, no refits
    # The instruction set the fit's counts were made in ("armv7" or "aarch64"): an ARMv8 core runs either, and
    # cycles per A32 and per A64 instruction differ. None in an older file: any (it was keyed by cpu alone).
    arch: str | None = None

    @property
    def identity(self) -> str:
        """A short hash of everything that decides a figure: two results modeled with the same identity are
        comparable, different ones are not."""
        text = json.dumps(_entry(self), sort_keys=True, default=float)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def cycles(self, counts: IterationCounts) -> float:
        return sum(c * event_count(counts, event) for event, c in self.cycles_per.items())

    def modeled_ms(self, counts: IterationCounts, clock_mhz: float) -> float:
        if clock_mhz <= 0:
            raise EdgebenchError(f"clock {clock_mhz} MHz: a modeled latency needs a positive clock")
        return self.cycles(counts) / (clock_mhz * 1000.0)

    def draws_ms(self, counts: IterationCounts, clock_mhz: float, floor_ms: float | None) -> np.ndarray | None:
        """(refits, own errors) modeled ms: row j is refit j, column i fit model i's leave-one-out error;
        None without interval data."""
        if self.uncertainty is None:
            return None
        x = np.array([float(event_count(counts, e)) for e in self.cycles_per])
        by_refit = np.asarray(self.uncertainty.resamples) @ x / (clock_mhz * 1000.0)
        draws = by_refit[:, None] * np.exp(np.asarray(self.uncertainty.log_errors))[None, :]
        return draws if floor_ms is None else np.maximum(draws, floor_ms)

    def extrapolation(self, counts: IterationCounts) -> list[str]:
        """Each event the form uses whose count lies outside the fit models' range, in words."""
        if not self.fit_data:
            return ["calibrated range unknown: these constants carry no fit data (an older constants file)"]
        out = []
        for event in self.cycles_per:
            n = event_count(counts, event)
            fit = {p.model: event_count(p.counts, event) for p in self.fit_data}
            low, high = min(fit, key=fit.get), max(fit, key=fit.get)
            if n < fit[low]:
                out.append(f"extrapolation: {event} {n / fit[low]:.3g}x the smallest fit model's ({low})")
            elif n > fit[high]:
                out.append(f"extrapolation: {event} {n / fit[high]:.3g}x the largest fit model's ({high})")
        return out


def device_cache_signature(device) -> str | None:
    """What constants calibrated for `device` are keyed by: its cache geometry (None without one)."""
    return device.cache.signature() if device.cache is not None else None


# ------------------------------------------------------------------------------------------- the file

def _entry(c: CpuConstants) -> dict:
    entry = {"cpu": c.cpu, "arch": c.arch, "cycles_per": dict(c.cycles_per), "cache": c.cache,
             "calibrated_on": c.calibrated_on,
             "fit_models": list(c.fit_models), "loo_median_abs_error_pct": round(c.loo_median_abs_error_pct, 2),
             "loo_max_abs_error_pct": round(c.loo_max_abs_error_pct, 2), "note": c.note}
    if c.uncertainty is not None:
        u = c.uncertainty
        entry["interval"] = {"level": u.level, "log_errors": list(u.log_errors),
                             "resamples": [list(r) for r in u.resamples]}
    if c.fit_data:
        entry["fit_data"] = {p.model: {"cycles": p.cycles, "counts": asdict(p.counts)} for p in c.fit_data}
    return entry


def _parse_entry(name: str, entry: dict) -> CpuConstants:
    cycles_per = {str(k): float(v) for k, v in entry["cycles_per"].items()}
    bad = [k for k, v in cycles_per.items() if k not in EVENTS or not (v >= 0 and math.isfinite(v))]
    if bad or not cycles_per:
        raise ValueError(f"bad cycles_per entries {bad or '(none)'}")
    uncertainty = None
    if "interval" in entry:
        raw = entry["interval"]
        resamples = tuple(tuple(float(v) for v in r) for r in raw["resamples"])
        log_errors = tuple(float(v) for v in raw["log_errors"])
        level = float(raw["level"])
        if not (0 < level < 1 and resamples and log_errors and all(len(r) == len(cycles_per) for r in resamples)):
            raise ValueError("interval: needs 0 < level < 1, resamples of one constant per event, log_errors")
        uncertainty = Uncertainty(level, resamples, log_errors)
    fit_data = tuple(FitPoint(str(m), IterationCounts(**p["counts"]), float(p["cycles"]))
                     for m, p in (entry.get("fit_data") or {}).items())
    arch = entry.get("arch")
    if arch not in (None, "armv7", "aarch64"):
        raise ValueError(f"arch {arch!r} is neither armv7 nor aarch64")
    return CpuConstants(
        cpu=str(entry.get("cpu", name)), arch=arch, cycles_per=cycles_per, cache=str(entry["cache"]), calibrated_on=str(entry["calibrated_on"]),
        fit_models=tuple(entry["fit_models"]), loo_median_abs_error_pct=float(entry["loo_median_abs_error_pct"]),
        loo_max_abs_error_pct=float(entry["loo_max_abs_error_pct"]), note=str(entry.get("note", "")),
        uncertainty=uncertainty, fit_data=fit_data)


def load_constants(path: Path = CONSTANTS_FILE) -> dict[str, CpuConstants]:
    """calibration name (e.g. "cortex-a9", "cortex-a53-aarch32") -> constants; a missing file means no CPU is
    calibrated, a malformed one is a clear error."""
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise EdgebenchError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(doc, dict) or doc.get("schema") not in (CONSTANTS_SCHEMA, *OLD_SCHEMAS):
        raise EdgebenchError(f"{path}: not a latency-constants file (schema {CONSTANTS_SCHEMA})",
                             hint="regenerate it: python benchmarks/calibration.py --fit-only")
    out = {}
    for cpu, entry in (doc.get("cpus") or {}).items():
        try:
            out[str(cpu)] = _parse_entry(str(cpu), entry)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EdgebenchError(f"{path}: cpu {cpu!r}: {exc}",
                                 hint="regenerate it: python benchmarks/calibration.py --fit-only") from None
    return out


def write_constants(constants: dict[str, CpuConstants], header: str, path: Path = CONSTANTS_FILE) -> None:
    """Atomically (a reader sees the old file or the new one, never half of one)."""
    doc = {"schema": CONSTANTS_SCHEMA, "cpus": {cpu: _entry(c) for cpu, c in sorted(constants.items())}}
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    text = comment + yaml.safe_dump(doc, sort_keys=False, width=110, default_flow_style=None)
    write_atomically(path, text)


# ------------------------------------------------------------------------------------------- applying

def median_iteration(constants: CpuConstants, counters: Sequence[IterationCounts]) -> IterationCounts:
    """The timed iteration whose modeled cycles are the (lower) median: the one a run's interval is of."""
    return sorted(counters, key=constants.cycles)[(len(counters) - 1) // 2]


def model_latency(constants: CpuConstants, counters: Sequence[IterationCounts], *, clock_mhz: float,
                  cache: str, macs: float | None) -> ModeledLatency:
    """The modeled figure of one run's timed iterations (median), its interval, floor and range flags."""
    if not counters:
        raise EdgebenchError("no counts to model a latency from")
    floor = compute_floor_ms(constants.cpu, macs, clock_mhz)
    ms = statistics.median(constants.modeled_ms(c, clock_mhz) for c in counters)
    flags = constants.extrapolation(median_iteration(constants, counters))
    if floor is not None and ms < floor:
        flags.append(f"at the compute floor: modeled {ms:.3g} ms < {macs / 1e6:.4g} M MACs at the NEON peak "
                     f"({NEON_FP32_MAC_PER_CYCLE[constants.cpu]} MAC/cycle) = {floor:.3g} ms")
        ms = floor
    draws = constants.draws_ms(median_iteration(constants, counters), clock_mhz, floor)
    low = high = level = None
    if draws is None:
        flags.insert(0, NO_INTERVAL_FLAG)
    else:
        level = constants.uncertainty.level
        low, high = interval(draws, level)
    return ModeledLatency(ms=ms, low_ms=low, high_ms=high, level=level, cpu=constants.cpu, clock_mhz=clock_mhz,
                          cache=cache, constants_id=constants.identity, flags=flags)


def constants_matching(cpu: str, arch: str, cache: str, table: dict[str, CpuConstants]) -> CpuConstants | None:
    """The constants fitted for `cpu` in instruction set `arch` with cache geometry `cache` (other caches'
    misses mean something else); None when there are none."""
    fitting = [c for c in table.values() if c.cpu == cpu and c.cache == cache and c.arch in (arch, None)]
    return min(fitting, key=lambda c: c.arch is None, default=None)  # a fit in its own instruction set first


def constants_for(device, table: dict[str, CpuConstants] | None = None) -> CpuConstants | None:
    table = load_constants() if table is None else table
    return constants_matching(device.cpu, device.arch, device_cache_signature(device), table)


def unmodeled_reason(device, table: dict[str, CpuConstants] | None = None) -> str | None:
    """Why a counting device gets no modeled figure (None when it gets one), naming what is calibrated instead."""
    table = load_constants() if table is None else table
    if constants_for(device, table) is not None:
        return None
    others = sorted(f"{name} ({c.arch})" for name, c in table.items() if c.cpu == device.cpu)
    return (f"not modeled: no latency constants for {device.cpu} in {device.arch} with its caches (exact counts only)"
            + (f"; calibrated for {device.cpu}: {', '.join(others)}" if others else ""))


def modeled_for(device, counters: Sequence[IterationCounts] | None, macs: float | None,
                table: dict[str, CpuConstants] | None = None) -> ModeledLatency | None:
    """The modeled latency of one run on `device`; None without counts or constants for its CPU and caches."""
    c = constants_for(device, table) if counters else None
    if c is None:
        return None
    return model_latency(c, counters, clock_mhz=device.clock_mhz, cache=c.cache, macs=macs)


def modeled_fields(device, counters: Sequence[IterationCounts] | None, macs: float | None) -> dict:
    """RunResult's modeled_ms and modeled, as keyword arguments (edgebench.bench.session sets both in one call)."""
    m = modeled_for(device, counters, macs)
    return {"modeled_ms": m.ms if m else None, "modeled": m}


@dataclass(frozen=True)
class Remodeled:
    """A stored result's modeled figure as a report shows it: made again from its counts with the installed
    constants when they cover its CPU and caches, else the stored one with why it was not."""

    figure: ModeledLatency | None
    constants: CpuConstants | None  # the installed constants it was made with; None when not re-modeled
    counts: IterationCounts | None  # the median iteration the figure is of
    note: str  # provenance in words ("" when stored and installed constants are the same)


def remodel(stored: ModeledLatency | None, stored_ms: float | None, counters: Sequence[IterationCounts] | None,
            macs: float | None, arch: str, table: dict[str, CpuConstants]) -> Remodeled:
    """`arch`: the run's instruction set (the stored figure's CPU and caches say the rest)."""
    if stored is None:
        if stored_ms is None:
            return Remodeled(None, None, None, "")
        return Remodeled(None, None, None, "made with unrecorded constants (stored before constants were "
                                           "identified); not re-modeled, no interval")
    installed = constants_matching(stored.cpu, arch, stored.cache, table)
    if not counters or installed is None:
        why = "no counts stored" if not counters else f"no installed constants for {stored.cpu} in {arch} with its caches"
        return Remodeled(stored, None, None, f"made with constants {stored.constants_id}; {why}: not re-modeled")
    figure = model_latency(installed, counters, clock_mhz=stored.clock_mhz, cache=stored.cache, macs=macs)
    note = "" if installed.identity == stored.constants_id else (
        f"re-modeled with the installed constants {installed.identity} (the run stored constants "
        f"{stored.constants_id}: {stored.ms:.4g} ms)")
    return Remodeled(figure, installed, median_iteration(installed, counters), note)


def modeled_ratio(constants: CpuConstants, num: IterationCounts, den: IterationCounts, *, clock_mhz: float,
                  num_macs: float | None, den_macs: float | None) -> tuple[float, float | None, float | None]:
    """num's modeled latency / den's on one device and its interval: each refit models both (their shared
    error cancels), each model draws its own error independently. (ratio, low, high); no interval without
    interval data."""
    floors = [compute_floor_ms(constants.cpu, m, clock_mhz) for m in (num_macs, den_macs)]
    points = [max(constants.modeled_ms(c, clock_mhz), f or 0.0) for c, f in zip((num, den), floors)]
    ratio = points[0] / points[1]
    a = constants.draws_ms(num, clock_mhz, floors[0])
    if a is None:
        return ratio, None, None
    b = constants.draws_ms(den, clock_mhz, floors[1])
    draws = a[:, :, None] / b[:, None, :]  # refit j: every own-error pair (i, l)
    return (ratio, *interval(draws.ravel(), constants.uncertainty.level))
