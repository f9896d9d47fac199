"""Threads, affinity and per-layer profiles without a board: argument parsing and refusals (before anything is
built or sent), the profile from a runner report, its store round trip and every report format (issue 17)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from edgebench.bench.measurement import layer_profile
from edgebench.boards.devices import get_device
from edgebench.boards.state import parse_cpu_clocks, with_cpus_used
from edgebench.cli import main
from edgebench.cli.run_cmd import check_affinity, parse_cpus
from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.report import parse_runner_output
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.report.markdown import to_markdown
from edgebench.report.model import build_report
from edgebench.report.tabular import to_json_data
from edgebench.results.result import BoardState, CpuClock, LayerCost, RunSettings
from edgebench.results.store import Store
from result_factory import make_result


def test_cpus_parse_and_reach_the_runner():
    assert parse_cpus("0,2") == [0, 2]
    assert parse_cpus(None) is None
    argv = RunnerOptions(param="m.param", settings=RunSettings(threads=2, cpus=[0, 2])).argv()
    assert argv[argv.index("--cpus") + 1] == "0,2" and argv[argv.index("--threads") + 1] == "2"
    assert "--cpus" not in RunnerOptions(param="m.param").argv()


@pytest.mark.parametrize("text, match", [("0,0", "twice"), ("0,x", "separated by commas"), ("", "commas"),
                                         ("-1", "commas")])
def test_bad_cpus_are_refused(text, match):
    with pytest.raises(EdgebenchError, match=match):
        parse_cpus(text)


def _real_pi4():
    return dataclasses.replace(get_device("rpi4"), emulator=None)


@pytest.mark.parametrize("device, settings, counting, match", [
    ("real", RunSettings(cpus=[0, 4]), False, r"--cpus 4: rpi4 has 4 core\(s\), 0-3"),
    ("real", RunSettings(cpus=[1], powersave=2), False, "both choose the cores"),
    ("emulated", RunSettings(cpus=[0]), False, "pins host threads under qemu-user"),
    ("emulated", RunSettings(threads=2), True, "the counters need one guest thread; --threads 2"),
    ("emulated", RunSettings(powersave=2), True, "--powersave 2 would run more"),
])
def test_affinity_refusals(device, settings, counting, match):
    target = _real_pi4() if device == "real" else get_device("rpi4")
    with pytest.raises(EdgebenchError, match=match):
        check_affinity(target, settings, counting)


def test_affinity_that_runs():
    check_affinity(_real_pi4(), RunSettings(threads=4, cpus=[0, 1, 2, 3]), False)
    check_affinity(_real_pi4(), RunSettings(threads=2, powersave=2), False)
    check_affinity(get_device("rpi4"), RunSettings(threads=4), False)  # emulated, uncounted


def test_counted_threads_are_refused_in_one_line_before_anything_runs(edgebench_dirs):
    res = CliRunner().invoke(main, ["run", "--device", "rpi4", "--threads", "4"])
    assert res.exit_code != 0
    assert "the counters need one guest thread; --threads 4" in res.output
    assert "connecting" not in res.output and "runtime for" not in res.output
    assert not (edgebench_dirs / "data" / "targets").exists()  # no emulated board was started


def _profile_doc(layers, samples):
    return {
        "schema": "edgebench-runner/3", "ncnn_version": "1.0.20261020",
        "build": {"arch": "aarch64", "compiler": "gcc 12.2.0", "flags": "-O3", "openmp": True, "profile": True,
                  "markers": "prctl"},
        "settings": {"param": "m.param", "bin": "m.bin", "shape": [3, 8, 8], "input": None, "seed": 0,
                     "input_blob": "in0", "output_blob": "out0", "threads": 4, "powersave": 0, "cpus": [0, 1],
                     "warmup": 0, "loops": len(samples), "min_time_ms": 0, "fp16_packed": True,
                     "fp16_storage": True, "fp16_arithmetic": True, "bf16_storage": False, "packing_layout": True,
                     "output_values": False},
        "timed_region": "ex.input + ex.extract; extractor created before the timer",
        "load_ms": {"param": 0.5, "model": 1}, "first_inference_ms": 3.5, "samples_ms": samples,
        "layers": [{"type": t, "name": n, "samples_ms": s} for t, n, s in layers], "peak_rss_kb": 1234,
        "cpus_used": [0, 1],
        "cpu": {"count": 4, "big": 4, "little": 0, "physical": 4, "l2_cache_bytes": 262144, "l3_cache_bytes": 0,
                "a53_a55": False, "isa": ["cpuid"]},
        "output": {"blob": "out0", "shape": [2], "checksum": {"sum": 1.0, "abs_sum": 1.0, "l2": 0.7}},
    }


LAYERS = [("Convolution", "conv1", [3.0, 3.2, 2.9]), ("Pooling", "pool1", [1.0, 1.0, 1.1]),
          ("Convolution", "conv2", [6.0, 6.1, 5.9])]


def _profiled_result():
    report = parse_runner_output(json.dumps(_profile_doc(LAYERS, [10.5, 10.4, 10.9])))
    assert report.settings.run_settings().cpus == [0, 1] and report.cpus_used == [0, 1]
    profile = layer_profile(report, "profile-key", unprofiled_ms=10.0)
    return dataclasses.replace(make_result("run-1", "tiny", device="my-pi4"), layer_profile=profile)


def test_profile_is_per_layer_medians_with_shares_and_overhead():
    p = _profiled_result().layer_profile
    assert [(x.name, x.type, x.median_ms) for x in p.layers] == [("conv1", "Convolution", 3.0),
                                                                  ("pool1", "Pooling", 1.0),
                                                                  ("conv2", "Convolution", 6.0)]
    assert [round(x.share, 3) for x in p.layers] == [0.3, 0.1, 0.6]
    assert p.iterations == 3 and p.profiled_ms == 10.5 and p.overhead == pytest.approx(0.05)


def test_a_report_without_layers_is_no_profile():
    report = parse_runner_output(json.dumps({**_profile_doc(LAYERS, [1.0]), "layers": None}))
    with pytest.raises(EdgebenchError, match="no layers"):
        layer_profile(report, "k", 1.0)


def test_profile_and_cpu_clocks_survive_the_store(tmp_path):
    board = BoardState(cpu_clocks=[CpuClock(c, "ondemand", "performance", 600000, 1500000, 1500000) for c in range(4)])
    result = dataclasses.replace(_profiled_result(), board=with_cpus_used(board, [0, 1]))
    with Store(tmp_path / "s.sqlite3") as store:
        run_id = store.begin_run("my-pi4", ["edgebench", "run"])
        store.add_result(dataclasses.replace(result, run_id=run_id))
        back = store.results(run_id)[0]
    assert back.layer_profile == result.layer_profile
    assert back.board.cpus_used == [0, 1] and [c.cpu for c in back.board.cpu_clocks] == [0, 1]
    assert back.board.cpu_clocks[0].governor_after == "performance"


def test_snapshot_cpu_lines():
    assert parse_cpu_clocks(["0 1500000 ondemand 1500000", "1 - - -", "junk"]) == {
        0: (1500000, "ondemand", 1500000), 1: (None, None, None)}


def _counted_result():
    costs = [LayerCost("Convolution", 3, 10, 9_000, 0, 0, 0, 0, 0), LayerCost("Pooling", 3, 2, 1_000, 0, 0, 0, 0, 0)]
    return dataclasses.replace(make_result("run-1", "tiny-counted", emulated=True), layer_breakdown=costs)


def test_every_report_format_shows_the_per_layer_tables(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        run_id = store.begin_run("my-pi4", ["edgebench", "run"])
        info = store.run(run_id)
    report = build_report(info, [_profiled_result(), _counted_result()], constants={})
    md = to_markdown(report)
    assert "| 3 | conv2 | Convolution | 6.00 | 60.0% |" in md
    assert "| Convolution | 2 | 9.00 | 90.0% |" in md  # the profile per layer type
    assert "| Convolution | 10 | – | 90.0% |" in md  # the counts per layer type read alike
    assert "profiling overhead +5.0%" in md
    data = to_json_data(report)
    assert [t["source"] for t in data["layers"]] == ["profile", "counts"]
    assert [x["name"] for x in data["layers"][0]["layers"]] == ["conv1", "pool1", "conv2"]
    from rich.console import Console

    console = Console(record=True, width=120)
    from edgebench.report.table import render_table

    render_table(report, console)
    text = console.export_text()
    assert "Per layer: tiny on my-pi4 (measured)" in text and "conv2" in text and "overhead +5.0%" in text
