"""How sure a modeled latency is (issue 13), on the committed constants and real counts of NCNN's reference
models (benchmarks/calibration_counts.json): intervals, correlated ratios, the compute floor, extrapolation,
re-modeling stored results, and paper verdicts that a leave-one-model-out refit cannot flip silently."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from result_factory import make_result

from edgebench.boards.devices import PACKAGED_DEVICES, parse_devices_file
from edgebench.modeling import latency_fit as lf
from edgebench.modeling import latency_model as lm
from edgebench.models.registry import get_spec, list_models
from edgebench.report.paper import Verdict, compare_with_paper, judge
from edgebench.report.rows import build_row
from edgebench.results.result import Basis
from edgebench.studies.fd_mobilenet import TABLE4

MODELED = Basis.MODELED
from edgebench.results.result import IterationCounts

REPO = Path(__file__).resolve().parents[1]
TABLE = lm.load_constants()
DEVICES = parse_devices_file(PACKAGED_DEVICES)


def _calibration():
    spec = importlib.util.spec_from_file_location("calibration", REPO / "benchmarks" / "calibration.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("calibration", module)
    spec.loader.exec_module(module)
    return module


CAL = _calibration()
DOC = json.loads((REPO / "benchmarks" / "calibration_counts.json").read_text())


def real_counts(cpu: str) -> dict[str, IterationCounts]:
    return {m: IterationCounts(**e["counts"]) for m, e in CAL.current_entries(DOC, cpu).items() if "counts" in e}


def device_of(cpu: str):
    return DEVICES[CAL.TARGETS[cpu].device]


def zoo_macs(name: str) -> float:
    """The spec's paper MFLOPs where it prints them; else counted from the exported graph (cached)."""
    paper = get_spec(name).paper.mflops
    if paper is not None:
        return paper * 1e6
    from edgebench.export.complexity import zoo_complexity

    return float(zoo_complexity(name).macs)


CPUS = sorted(TABLE)


# ------------------------------------------------------------------------------------------ intervals

@pytest.mark.parametrize("cpu", CPUS)
def test_every_counted_reference_model_gets_an_interval_around_its_figure(cpu):
    c, device = TABLE[cpu], device_of(cpu)
    for model, counts in real_counts(cpu).items():
        m = lm.model_latency(c, [counts], clock_mhz=device.clock_mhz, cache=c.cache, macs=None)
        assert m.level == 0.9 and m.constants_id == c.identity
        assert m.low_ms < m.ms < m.high_ms, model
        assert m.high_ms / m.low_ms < 10, model  # an interval, not a shrug


def test_interval_is_the_percentiles_of_refit_times_own_error_draws():
    c, device = TABLE["cortex-a9"], device_of("cortex-a9")
    counts = real_counts("cortex-a9")["mobilenet"]
    x = np.array([lm.event_count(counts, e) for e in c.cycles_per], dtype=float)
    draws = [sum(r * x) / (device.clock_mhz * 1000) * np.exp(e)
             for r in np.array(c.uncertainty.resamples) for e in c.uncertainty.log_errors]
    m = lm.model_latency(c, [counts], clock_mhz=device.clock_mhz, cache=c.cache, macs=None)
    assert (m.low_ms, m.high_ms) == pytest.approx(tuple(np.quantile(draws, [0.05, 0.95])))


def test_a_ratio_shares_each_refit_so_the_constants_error_cancels():
    """Without own errors, a model against a copy of itself with every count doubled is exactly 2 under
    every refit: the spread of the constants (which any refit shares) cancels entirely."""
    c = TABLE["cortex-a9"]
    only_refits = dataclasses.replace(c, uncertainty=dataclasses.replace(c.uncertainty, log_errors=(0.0,)))
    base = real_counts("cortex-a9")["squeezenet"]
    double = IterationCounts(**{k: 2 * v for k, v in dataclasses.asdict(base).items()})
    ratio, low, high = lm.modeled_ratio(only_refits, double, base, clock_mhz=800, num_macs=None, den_macs=None)
    assert (ratio, low, high) == pytest.approx((2.0, 2.0, 2.0))
    single = lm.model_latency(only_refits, [base], clock_mhz=800, cache=c.cache, macs=None)
    assert single.high_ms / single.low_ms > 1.05  # while each figure alone does move with the refits


def test_a_ratio_keeps_each_models_own_error():
    c = TABLE["cortex-a9"]
    counts = real_counts("cortex-a9")
    ratio, low, high = lm.modeled_ratio(c, counts["mobilenet"], counts["shufflenet"], clock_mhz=800,
                                        num_macs=None, den_macs=None)
    assert low < ratio < high
    spread = np.ptp(c.uncertainty.log_errors)
    assert np.log(high / low) > spread / 2  # two independent own errors do not cancel


def test_constants_without_interval_data_give_a_figure_without_one_and_say_so(tmp_path):
    c = TABLE["cortex-a9"]
    old = dataclasses.replace(c, uncertainty=None, fit_data=())
    path = tmp_path / "old.yaml"
    lm.write_constants({"cortex-a9": old}, "an older file", path)
    loaded = lm.load_constants(path)["cortex-a9"]
    assert loaded.uncertainty is None
    m = lm.model_latency(loaded, [real_counts("cortex-a9")["mobilenet"]], clock_mhz=800, cache=c.cache, macs=None)
    assert m.low_ms is None and m.high_ms is None and m.level is None
    assert m.flags[0] == lm.NO_INTERVAL_FLAG and any("calibrated range unknown" in f for f in m.flags)
    # and schema 1 files, which had neither, are still read
    v1 = path.read_text().replace(lm.CONSTANTS_SCHEMA, "edgebench-latency-constants/1")
    path.write_text(v1)
    assert lm.load_constants(path)["cortex-a9"].uncertainty is None


def test_far_outside_the_fit_range_is_flagged_as_extrapolation():
    c = TABLE["cortex-a9"]
    biggest = real_counts("cortex-a9")["efficientnet_b0"]
    huge = dataclasses.replace(biggest, instructions=10 * biggest.instructions)
    m = lm.model_latency(c, [huge], clock_mhz=800, cache=c.cache, macs=None)
    assert "extrapolation: instructions 10x the largest fit model's (efficientnet_b0)" in m.flags
    inside = lm.model_latency(c, [real_counts("cortex-a9")["squeezenet"]], clock_mhz=800, cache=c.cache, macs=None)
    assert not any(f.startswith("extrapolation") for f in inside.flags)


# ------------------------------------------------------------------------------------------ the floor

def test_fd_mobilenet_floor_on_the_imx6():
    # 144 M multiply-adds at 2 fp32 MAC/cycle and 800 MHz: 90 ms (issue 13)
    assert lm.compute_floor_ms("cortex-a9", 144e6, 800) == pytest.approx(90.0)


@pytest.mark.parametrize("cpu", CPUS)
def test_no_modeled_latency_below_the_compute_floor_for_any_zoo_model(cpu):
    """Every zoo model's MACs against every counted reference model's counts on every calibrated CPU: the
    modeled figure (and its whole interval) never drops below MACs / (NEON peak * clock), and a clamp says so."""
    c, device = TABLE[cpu], device_of(cpu)  # `cpu`: a calibration's name (a CPU in one instruction set)
    assert c.cpu in lm.NEON_FP32_MAC_PER_CYCLE
    clamped = 0
    for name in list_models():
        macs = zoo_macs(name)
        floor = lm.compute_floor_ms(c.cpu, macs, device.clock_mhz)
        for counts in real_counts(cpu).values():
            m = lm.model_latency(c, [counts], clock_mhz=device.clock_mhz, cache=c.cache, macs=macs)
            assert m.ms >= floor and m.low_ms >= floor, (name, cpu)
            at_floor = any(f.startswith("at the compute floor") for f in m.flags)
            assert at_floor == (c.modeled_ms(counts, device.clock_mhz) < floor)
            clamped += at_floor
    assert clamped > 0  # MobileNet 1.0x's MACs on blazeface's counts: the clamp is exercised, not vacuous


# ------------------------------------------------------------------------------------------ stored results

def _stored(model: str, counts: IterationCounts, constants: lm.CpuConstants, macs: float):
    device = device_of(constants.cpu)
    figure = lm.model_latency(constants, [counts], clock_mhz=device.clock_mhz, cache=constants.cache, macs=macs)
    return dataclasses.replace(make_result("r", model, emulated=True, mflops=macs / 1e6, counters=1),
                               counters=[counts], modeled_ms=figure.ms, modeled=figure)


def test_a_report_remodels_stored_counts_with_the_installed_constants_and_names_both():
    c = TABLE["cortex-a9"]
    counts = real_counts("cortex-a9")["mobilenet"]
    other = dataclasses.replace(c, cycles_per={k: v * 1.3 for k, v in c.cycles_per.items()})
    result = _stored("mobilenet_v1_0.5x", counts, other, 149e6)
    row = build_row(result, TABLE)
    assert row.modeled.constants_id == c.identity and row.modeled_constants == c.identity
    assert row.modeled_ms == pytest.approx(c.modeled_ms(counts, 800))
    assert f"re-modeled with the installed constants {c.identity} (the run stored constants {other.identity}" \
        in row.modeled_note
    same = build_row(_stored("mobilenet_v1_0.5x", counts, c, 149e6), TABLE)
    assert same.modeled_note == ""  # stored with the installed constants: nothing to say
    none_installed = build_row(result, {})
    assert none_installed.modeled == result.modeled and none_installed.modeled_constants is None
    assert f"made with constants {other.identity}; no installed constants for cortex-a9" in none_installed.modeled_note


# ------------------------------------------------------------------------------------------ paper verdicts

def _paper_rows():
    """The six Table 4 pairs on real A9 counts: FD-MobileNet as shufflenet_v2's counts, MobileNet as
    squeezenet's, ShuffleNet as mobilenet's (stand-ins: the zoo's own counts come from runs)."""
    c, counts = TABLE["cortex-a9"], real_counts("cortex-a9")
    stand_in = {"fd_mobilenet": "shufflenet_v2", "mobilenet_v1": "squeezenet", "shufflenet_v1": "mobilenet"}
    results = []
    for claim in TABLE4:
        for name in (claim.fd_model, claim.other_model):
            if name not in {r.model for r in results}:
                family = next(f for f in stand_in if name.startswith(f))
                results.append(_stored(name, counts[stand_in[family]], c, 1e6))
    return [build_row(r, TABLE) for r in results]


def test_modeled_paper_verdicts_use_the_correlated_interval_and_show_every_refit():
    comparisons = compare_with_paper(_paper_rows(), TABLE)
    c = TABLE["cortex-a9"]
    for comp in comparisons:
        assert comp.basis == MODELED and comp.ours_low < comp.ours < comp.ours_high
        labels = [r.label for r in comp.refits]
        assert labels == [f"form {' + '.join(f)}" for f in lf.FORMS] + [f"without {m}" for m in c.fit_models]
        lomo = [r for r in comp.refits if r.label.startswith("without")]
        assert all(r.verdict == judge(comp.claim.speedup, r.low, r.high) for r in lomo)
        full = judge(comp.claim.speedup, comp.ours_low, comp.ours_high)
        if any(r.verdict != full for r in lomo):  # a flip: never reported as anything but inconclusive
            assert comp.verdict is Verdict.INCONCLUSIVE and "rests on single calibration models" in comp.why
        else:
            assert comp.verdict is full


def test_a_stored_figure_is_remodeled_with_the_fit_of_its_own_instruction_set():
    """One CPU has a fit per instruction set: a 32-bit run is re-modeled with the A32 fit, never the A64 one."""
    a32 = TABLE["cortex-a53-aarch32"]
    counts = real_counts("cortex-a53-aarch32")["mobilenet"]
    a64 = dataclasses.replace(a32, arch="aarch64", cycles_per={k: v * 2 for k, v in a32.cycles_per.items()})
    table = {"cortex-a53": a64, "cortex-a53-aarch32": a32}
    result = dataclasses.replace(_stored("mobilenet_v1_0.5x", counts, a32, 149e6), device="rpi3-32", arch="armv7")
    row = build_row(result, table)
    assert row.modeled_constants == a32.identity and row.modeled_note == ""
    assert build_row(dataclasses.replace(result, arch="aarch64"), table).modeled_constants == a64.identity


def test_only_fits_within_the_error_goals_are_filed_so_the_64_bit_pi3_is_counted_not_modeled():
    """A64 Cortex-A53 counts miss the error goals on every A53 board of NCNN's table (64-bit builds included):
    that fit is not filed, and the 64-bit Pi 3 says why it is not modeled and what is calibrated instead."""
    a64, a32 = (CAL.calibrate(n, CAL.current_entries(DOC, n)) for n in ("cortex-a53", "cortex-a53-aarch32"))
    assert not a64.filed and a32.filed
    section = "\n".join(CAL.a53_boards_section([a64, a32]))
    assert "aarch64 counts on 0 of 4, armv7 counts on 4 of 4" in section and "EAIDK 310 | 1300 MHz" in section
    assert set(TABLE) == {"cortex-a9", "cortex-a53-aarch32", "cortex-a72", "cortex-a7"}  # the filed fits
    assert lm.constants_for(DEVICES["rpi3"], TABLE) is None and lm.constants_for(DEVICES["rpi3-32"], TABLE)
    why = lm.unmodeled_reason(DEVICES["rpi3"], TABLE)
    assert "no latency constants for cortex-a53 in aarch64" in why and "cortex-a53-aarch32 (armv7)" in why
    assert lm.unmodeled_reason(DEVICES["rpi3-32"], TABLE) is None


def test_a_counted_run_without_constants_for_its_cpu_says_it_is_not_modeled():
    c = TABLE["cortex-a53-aarch32"]
    counted = dataclasses.replace(_stored("mobilenet_v1_0.5x", real_counts("cortex-a53")["mobilenet"], c, 149e6),
                                  device="rpi3", arch="aarch64", modeled=None, modeled_ms=None)
    row = build_row(counted, TABLE)
    assert row.headline.basis == Basis.EMULATED and row.modeled is None
    assert any(f.startswith("counted, not modeled: no installed latency constants cover its CPU in aarch64")
               for f in row.flags)
