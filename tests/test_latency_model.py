"""The modeled-latency model: the fit, its statistics, the constants file and applying it to a device.

The calibration data itself (benchmarks/calibration_counts.json, real QEMU counts of NCNN's reference params)
is checked against the committed constants, so a refit that was not committed, or a hand-edited constant,
fails here.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgebench.boards.board import board_for
from edgebench.boards.devices import PACKAGED_DEVICES, get_device, parse_devices_file
from edgebench.errors import EdgebenchError
from edgebench.modeling import latency_fit as lf
from edgebench.modeling import latency_model as lm
from edgebench.results.result import IterationCounts, RunSettings

REPO = Path(__file__).resolve().parents[1]
COUNTS_FILE = REPO / "benchmarks" / "calibration_counts.json"


def counts(instructions: int, simd_fp: int = 0, l1d: int = 0, l2: int = 0) -> IterationCounts:
    return IterationCounts(instructions=instructions, simd_fp=simd_fp, integer=instructions - simd_fp, loads=0,
                           stores=0, branches=0, bytes_loaded=0, bytes_stored=0, l1d_misses=l1d, l1i_misses=0,
                           l2_misses=l2)


def imx6():
    return parse_devices_file(PACKAGED_DEVICES)["imx6"]


def constants_for(device, cycles_per: dict[str, float]) -> lm.CpuConstants:
    return lm.CpuConstants(cpu=device.cpu, cycles_per=cycles_per, cache=lm.device_cache_signature(device),
                           calibrated_on="test", fit_models=("a", "b"), loo_median_abs_error_pct=1.0,
                           loo_max_abs_error_pct=2.0)


# ----------------------------------------------------------------------------------------------- fitting

def test_fit_recovers_a_known_linear_law_exactly():
    rng = np.random.default_rng(0)
    events = ("instructions", "l1d_misses", "l2_misses")
    rows = rng.uniform(1e6, 1e8, size=(8, 3))
    truth = np.array([1.7, 9.0, 60.0])
    fit = lf.fit_relative_nnls(rows, rows @ truth, events)
    assert fit.events == events
    np.testing.assert_allclose(fit.cycles_per, truth, rtol=1e-9)
    np.testing.assert_allclose(lf.leave_one_out(rows, rows @ truth, events), rows @ truth, rtol=1e-9)


def test_fit_never_returns_a_negative_constant():
    # The unconstrained least-squares answer needs a negative cost for the second event.
    rows = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 3.0], [4.0, 2.0]])
    cycles = rows @ np.array([2.0, -0.5])
    unconstrained = np.linalg.lstsq(rows / cycles[:, None], np.ones(4), rcond=None)[0]
    assert unconstrained[1] < 0
    fit = lf.fit_relative_nnls(rows, cycles, ("instructions", "l2_misses"))
    assert all(c >= 0 for c in fit.cycles_per)
    assert fit.cycles_per[1] == 0.0 and fit.cycles_per[0] > 0


def test_fit_minimises_relative_not_absolute_error():
    # One large model off a law the small ones follow: an absolute fit would chase the large one.
    rows = np.array([[1e6], [2e6], [4e6], [1e9]])
    cycles = np.array([2e6, 4e6, 8e6, 3e9])
    (c,) = lf.fit_relative_nnls(rows, cycles, ("instructions",)).cycles_per
    assert 2.0 < c < 2.5  # the absolute fit would give ~3.0


def test_fit_refuses_too_few_models_and_nonpositive_latencies():
    with pytest.raises(EdgebenchError, match="cannot fix 3 constants"):
        lf.fit_relative_nnls(np.ones((2, 3)), np.ones(2), ("instructions", "l1d_misses", "l2_misses"))
    with pytest.raises(EdgebenchError, match="positive"):
        lf.fit_relative_nnls(np.ones((2, 1)), np.array([1.0, 0.0]), ("instructions",))


def test_spearman():
    assert lf.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert lf.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert lf.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6*2/(4*15)
    assert lf.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)  # ties: mean ranks
    with pytest.raises(EdgebenchError):
        lf.spearman([1], [1])


# ----------------------------------------------------------------------------------------------- applying

def test_modeled_ms_is_cycles_over_the_device_clock():
    device = imx6()
    c = constants_for(device, {"instructions": 2.0, "l1d_misses": 10.0, "l2_misses": 100.0})
    run = [counts(8_000_000, l1d=100_000, l2=10_000)] * 3
    expected = (2 * 8e6 + 10 * 1e5 + 100 * 1e4) / (device.clock_mhz * 1000)
    assert lm.modeled_for(device, run, None, {device.cpu: c}).ms == pytest.approx(expected)
    # non_simd/simd_fp split the instructions without double counting
    split = constants_for(device, {"non_simd": 1.0, "simd_fp": 3.0})
    assert split.cycles(counts(10, simd_fp=4)) == 6 * 1.0 + 4 * 3.0


def test_modeled_ms_is_the_median_over_timed_iterations():
    device = imx6()
    c = constants_for(device, {"instructions": 1.0})
    run = [counts(800_000), counts(1_600_000), counts(900_000)]
    assert lm.modeled_for(device, run, None, {device.cpu: c}).ms == pytest.approx(900_000 / (device.clock_mhz * 1000))


def test_no_modeled_figure_without_counts_constants_or_matching_caches():
    device = imx6()
    c = constants_for(device, {"instructions": 1.0})
    assert lm.modeled_for(device, None, None, {device.cpu: c}) is None
    assert lm.modeled_for(device, [], None, {device.cpu: c}) is None
    assert lm.modeled_for(device, [counts(10)], None, {"cortex-a53": dataclasses.replace(c, cpu="cortex-a53")}) is None
    other_cache = dataclasses.replace(c, cache=c.cache.replace("l2=524288", "l2=1048576"))
    assert lm.modeled_for(device, [counts(10)], None, {device.cpu: other_cache}) is None


def test_an_armv8_core_takes_the_constants_of_its_own_instruction_set():
    """The same Cortex-A53 runs A32 (a 32-bit OS) or A64 code: cycles per instruction differ between the two,
    so each device gets the fit made in its own instruction set; an older entry without one fits both."""
    devices = parse_devices_file(PACKAGED_DEVICES)
    a64, a32 = devices["rpi3"], devices["rpi3-32"]
    base = constants_for(a64, {"instructions": 1.0})
    table = {"cortex-a53": dataclasses.replace(base, arch="aarch64"),
             "cortex-a53-aarch32": dataclasses.replace(base, arch="armv7", cycles_per={"instructions": 2.0})}
    assert lm.constants_for(a64, table).arch == "aarch64" and lm.constants_for(a32, table).arch == "armv7"
    assert lm.constants_for(a32, {"cortex-a53": dataclasses.replace(base, arch="aarch64")}) is None
    older = {"cortex-a53": base}  # arch None: written before fits were per instruction set
    assert lm.constants_for(a32, older) is base and lm.constants_for(a64, older) is base
    assert lm.constants_for(a32, {**older, **{"x": table["cortex-a53-aarch32"]}}).arch == "armv7"  # own ISA first
    assert lm.load_constants() and all(c.arch for c in lm.load_constants().values())  # the packaged fits say theirs


# ----------------------------------------------------------------------------------------------- the file

def test_constants_round_trip(tmp_path: Path):
    device = imx6()
    c = constants_for(device, {"instructions": 1.25, "l2_misses": 40.5})
    path = tmp_path / "constants.yaml"
    lm.write_constants({device.cpu: c}, "a header\nline two", path)
    assert path.read_text().startswith("# a header\n# line two\n")
    assert lm.load_constants(path) == {device.cpu: c}


@pytest.mark.parametrize("text, problem", [
    ("[1, 2]", "not a latency-constants file"),
    ("schema: other/1\n", "not a latency-constants file"),
    ("schema: edgebench-latency-constants/1\ncpus:\n  cortex-a9: {cycles_per: {instructions: 1}}\n", "cortex-a9"),
    ("schema: edgebench-latency-constants/1\ncpus:\n  cortex-a9:\n    cycles_per: {cycles: 1}\n    cache: x\n"
     "    calibrated_on: x\n    fit_models: []\n    loo_median_abs_error_pct: 1\n    loo_max_abs_error_pct: 1\n",
     "bad cycles_per"),
    ("schema: edgebench-latency-constants/1\ncpus:\n  cortex-a9:\n    cycles_per: {instructions: -1}\n    cache: x\n"
     "    calibrated_on: x\n    fit_models: []\n    loo_median_abs_error_pct: 1\n    loo_max_abs_error_pct: 1\n",
     "bad cycles_per"),
    ("cpus: [", "not valid YAML"),
])
def test_malformed_constants_file_is_a_clear_error(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "constants.yaml"
    path.write_text(text)
    with pytest.raises(EdgebenchError, match=problem):
        lm.load_constants(path)


def test_missing_constants_file_means_nothing_is_calibrated(tmp_path: Path):
    assert lm.load_constants(tmp_path / "absent.yaml") == {}


def test_unknown_event_is_refused():
    with pytest.raises(EdgebenchError, match="unknown latency-model event"):
        lm.event_count(counts(1), "cycles")


# ----------------------------------------------------------------------------------------------- committed data

def test_committed_constants_apply_to_the_packaged_imx6():
    table = lm.load_constants()
    device = imx6()
    assert device.cpu in table, "edgebench/latency_constants.yaml has no Cortex-A9 entry"
    assert table[device.cpu].cache == lm.device_cache_signature(device)
    modeled = lm.modeled_for(device, [counts(8_000_000, l1d=10_000, l2=1_000)], None)
    assert modeled.ms > 0 and modeled.low_ms < modeled.ms < modeled.high_ms and modeled.level == 0.9


def _calibration_script():
    spec = importlib.util.spec_from_file_location("calibration", REPO / "benchmarks" / "calibration.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("calibration", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_committed_constants_are_the_fit_of_the_committed_counts():
    """Refit from the committed counts (arithmetic only, no QEMU): the committed constants must be exactly
    that fit, with the leave-one-out figures, bootstrap refits and fit data they state. A hand-edited constant
    or an uncommitted refit fails here."""
    calibration = _calibration_script()
    doc = json.loads(COUNTS_FILE.read_text())
    table = lm.load_constants()
    assert table, "no committed constants"
    for cpu, committed in table.items():
        refit = calibration.calibrate(cpu, calibration.current_entries(doc, cpu)).constants()
        assert refit.fit_models == committed.fit_models
        assert refit.cache == committed.cache and refit.arch == committed.arch
        assert set(refit.cycles_per) == set(committed.cycles_per)
        for event, value in committed.cycles_per.items():
            assert refit.cycles_per[event] == pytest.approx(value, rel=1e-6)
        assert refit.loo_median_abs_error_pct == pytest.approx(committed.loo_median_abs_error_pct, abs=0.01)
        assert refit.loo_max_abs_error_pct == pytest.approx(committed.loo_max_abs_error_pct, abs=0.01)
        assert refit.fit_data == committed.fit_data
        np.testing.assert_allclose(refit.uncertainty.resamples, committed.uncertainty.resamples, rtol=1e-9)
        np.testing.assert_allclose(refit.uncertainty.log_errors, committed.uncertainty.log_errors, rtol=1e-9)
        assert refit.identity == committed.identity


# ----------------------------------------------------------------------------------------------- real QEMU

@pytest.fixture
def counting_env(monkeypatch, shared_cache, tmp_path):
    """The runtime build is shared (conftest's shared_cache); data stays private."""
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path / "data"))


@pytest.mark.slow
def test_committed_counts_are_reproduced_by_todays_build(counting_env):
    """Count blazeface.param again under qemu-arm -cpu cortex-a9 with today's runtime and plugin: the events
    the model uses agree with the committed counts (across runtime builds they moved < 0.6 %; l1i misses,
    which the model does not use, move more with code layout)."""
    from edgebench.ncnn_tools.build import build_runtime
    from edgebench.ncnn_tools.plugin import build_plugin

    calibration = _calibration_script()
    device = imx6()
    param = calibration.REFERENCE / "blazeface.param"
    runtime = build_runtime(device.arch, progress=False)
    job = calibration.CountJob("blazeface", param, calibration.TARGETS["cortex-a9"], device, "test")
    provenance = {"runtime_key": runtime.key, "ncnn_version": runtime.ncnn_version,
                  "plugin": build_plugin("qemu-arm").name, "emulator": str(device.emulator)}
    fresh = calibration._count_one(job, runtime.runner, board_for(device).launcher,
                                   device.cache, provenance)
    assert "error" not in fresh, fresh.get("error")
    committed = calibration.current_entries(json.loads(COUNTS_FILE.read_text()), "cortex-a9")["blazeface"]
    for event in ("instructions", "simd_fp", "l1d_misses", "l2_misses"):
        assert fresh["counts"][event] == pytest.approx(committed["counts"][event], rel=0.01), event


@pytest.mark.slow
def test_edgebench_run_sets_the_modeled_latency(counting_env, tmp_path):
    """The whole emulated path (export, runtime, sshd, qemu-arm + plugin): the result carries the modeled
    latency of its own counts on the imx6 entry, next to (not instead of) the emulated wall time."""
    from edgebench.bench.session import RunRequest, Session
    from edgebench.bench.runtimes import BuiltRuntimes
    from edgebench.results.store import Store
    from edgebench.boards.targets import target_down

    device = get_device("imx6")
    request = RunRequest(device=device, models=("fd_mobilenet_0.25x",), settings=RunSettings(loops=2, warmup=1),
                         artifacts_root=tmp_path / "artifacts")
    try:
        with Store(tmp_path / "store.sqlite3") as store:
            session = Session(board_for(device), BuiltRuntimes(), store, argv=["test"], on_stage=lambda s: None)
            run_id, (result,) = session.execute(request, lambda r: None)
            assert result.status == "ok", result.error
            assert result.counters and len(result.samples_ms) == 2
            assert result.modeled == lm.modeled_for(device, result.counters, result.mflops * 1e6)
            assert result.modeled_ms == result.modeled.ms and result.modeled.low_ms < result.modeled_ms
            # FD-MobileNet 0.25x is ~12 MFLOPs: tens of ms on an 800 MHz Cortex-A9, not seconds like emulation
            assert 5 < result.modeled_ms < 100
            assert store.results(run_id)[0].modeled == result.modeled
    finally:
        target_down(device)
