"""The QEMU counting plugin: exact, repeatable per-iteration counts, and clear errors for bad input.

Slow tests build the plugin and a tiny static guest program (ncnn_tools/qemu_plugin/selftest.c) with the
real cross-compilers and run it under the real qemu-arm / qemu-aarch64 (Debian's qemu-user). The build
cache is EDGEBENCH_TEST_CACHE when set (shared between test runs), else a fresh tmp dir.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgebench.caches import IMX6_CACHES, CacheGeometry, CacheLevel
from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools import plugin
from edgebench.ncnn_tools.plugin import parse_counts

ARCHS = ("armv7", "aarch64")
FIELDS = [f.name for f in dataclasses.fields(plugin.IterationCounts)]


def run_selftest(arch, tmp_path, *args, env=None, caches=IMX6_CACHES, name="counts.jsonl"):
    exe = plugin.build_selftest(arch)
    run = plugin.run_counted(plugin.selftest_qemu(arch), [str(exe), *map(str, args)], tmp_path / name,
                             caches, env=env, timeout=300)
    return run


# ---- fast: the parser's judgement on files the plugin writes ----

START = '{"kind":"start","schema":"edgebench-counts/1","target":"arm","api":1,"cache":null}'


def window(i, **over):
    values = dict.fromkeys(FIELDS, 7) | over
    body = ",".join(f'"{k}":{"null" if v is None else v}' for k, v in values.items())
    return f'{{"kind":"window","iteration":{i},{body}}}'


def write(tmp_path, *lines):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_parse_counts_reads_windows_in_order(tmp_path):
    path = write(tmp_path, START, window(0, instructions=100), window(1, instructions=101),
                 '{"kind":"done","windows":2,"arm_state_from":"elf-mapping-symbols"}')
    counts = parse_counts(path)
    assert [c.instructions for c in counts] == [100, 101]
    assert counts[0].l2_misses == 7


@pytest.mark.parametrize("lines, message", [
    ([START], "no iteration markers"),
    ([START, '{"kind":"begin","iteration":0}', window(0)], "incomplete after 1 iteration"),
    ([START, '{"kind":"begin","iteration":0}'], "iteration 0 began but its counts never came"),
    ([START, window(0), window(2), '{"kind":"done","windows":2}'], "counts for iteration 1 missing"),
    ([START, window(0), '{"kind":"done","windows":2}'], "closed 2 iteration(s) but the file holds 1"),
    ([START, '{"kind":"error","message":"the guest started a second thread (vCPU 1)"}'], "second thread"),
    ([START, window(0, l1d_misses=None), '{"kind":"done","windows":1}'], "cache model off"),
    ([START, window(0)[:40]], "truncated or corrupt"),
    (['{"kind":"start","schema":"edgebench-counts/0"}'], "counts schema"),
    ([], "no start record"),
])
def test_parse_counts_refuses_incomplete_files(tmp_path, lines, message):
    with pytest.raises(EdgebenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_counts(write(tmp_path, *lines))


def test_parse_counts_names_a_missing_file(tmp_path):
    with pytest.raises(EdgebenchError, match="QEMU did not load the counting plugin") as err:
        parse_counts(tmp_path / "absent.jsonl")
    assert "qemu-user" in err.value.hint


def test_cache_geometry_is_checked(tmp_path):
    assert "no power-of-two number of sets" in CacheLevel(3, 4, 32).problem()  # 24 sets
    assert "line size must be a power of two" in CacheLevel(32, 4, 48).problem()
    assert CacheLevel(32, 4, 32).problem() is None
    assert CacheLevel(48, 3, 64).problem() is None  # Cortex-A72 L1I: 3 ways, 256 sets
    odd = CacheGeometry(l1i=IMX6_CACHES.l1i, l1d=CacheLevel(3, 4, 32), l2=IMX6_CACHES.l2)
    with pytest.raises(EdgebenchError, match="cache l1d: 3 KiB"):
        plugin.plugin_args(tmp_path / "c.jsonl", odd, lib=tmp_path / "p.so")
    with pytest.raises(EdgebenchError, match="needs an L2"):
        plugin.plugin_args(tmp_path / "c.jsonl", CacheGeometry(IMX6_CACHES.l1i, IMX6_CACHES.l1d), lib=tmp_path / "p.so")


def test_every_shipped_device_geometry_is_accepted(tmp_path):
    from edgebench.boards.devices import load_devices

    for device in load_devices().values():
        if device.cache is not None:
            args = plugin.plugin_args(tmp_path / "c.jsonl", device.cache, lib=tmp_path / "p.so")
            assert f"l2={device.cache.l2.arg()}" in args[1], device.name


def test_plugin_args_refuse_a_comma_in_the_path(tmp_path):
    with pytest.raises(EdgebenchError, match="comma"):
        plugin.plugin_args(tmp_path / "a,b.jsonl", lib=Path("/x.so"))
    assert plugin.plugin_args(tmp_path / "c.jsonl", lib=Path("/x.so")) == [
        "-plugin", f"/x.so,out={tmp_path / 'c.jsonl'},l1d=32768:4:32,l1i=32768:4:32,l2=524288:16:32"]


# ---- slow: real plugin, real cross-built guest, real QEMU ----

@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_counts_are_identical_run_after_run_whatever_argv_and_env(build_cache, tmp_path, arch):
    first = run_selftest(arch, tmp_path, "work", 4, 20, name="a.jsonl")
    env = dict(os.environ, EDGEBENCH_PADDING="p" * 5000)
    second = run_selftest(arch, tmp_path, "work", 4, 20, "ignored-" + "x" * 3001, env=env, name="b.jsonl")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    a, b = parse_counts(first.counts_file), parse_counts(second.counts_file)
    assert len(a) == 4
    assert a == b  # every field of every iteration
    assert a[0].simd_fp > 0 and a[1].l1d_misses == 0  # NEON work; a 4 KiB working set stays in L1 once warm


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_counts_scale_exactly_with_known_work(build_cache, tmp_path, arch):
    """Iteration i runs the asm kernel 1000*(i+1) times; one trip = 8 instructions of known classes."""
    trips = 1000
    run = run_selftest(arch, tmp_path, "kernel", 4, trips)
    counts = parse_counts(run.counts_file)
    per_trip = dict(instructions=8, simd_fp=4, integer=1, loads=1, stores=1, branches=1, bytes_loaded=16,
                    bytes_stored=4)
    for i, c in enumerate(counts):
        for name, per in per_trip.items():
            assert getattr(c, name) - getattr(counts[0], name) == i * trips * per, (i, name)
    assert [c.instructions for c in counts] == [sum(getattr(c, f) for f in FIELDS[1:6]) for c in counts]
    assert counts[0].l1i_misses > 0 and all(c.l1i_misses == 0 for c in counts[1:])  # cold, then a tight loop


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("working_set, l1_missing, l2_missing", [
    (16 << 10, False, False),   # fits L1 (32 KiB)
    (128 << 10, True, False),   # beyond L1, within L2 (512 KiB)
    (1 << 20, True, True),      # beyond L2
])
def test_cache_model_follows_the_working_set(build_cache, tmp_path, arch, working_set, l1_missing, l2_missing):
    """4 passes reading one word per 32-byte line: a cyclic sweep beyond an LRU cache misses on every line."""
    run = run_selftest(arch, tmp_path, "sweep", 3, working_set)
    counts = parse_counts(run.counts_file)
    sweep_lines = 4 * working_set // 32
    assert counts[0].l1d_misses >= working_set // 32  # iteration 0 starts cold
    for c in counts[1:]:
        tolerance = sweep_lines // 100  # a few stack and global lines besides the sweep
        assert abs(c.l1d_misses - (sweep_lines if l1_missing else 0)) <= tolerance, c
        assert abs(c.l2_misses - (sweep_lines if l2_missing else 0)) <= tolerance, c
        assert c.bytes_loaded >= 4 * sweep_lines


@pytest.mark.slow
@pytest.mark.parametrize("mode, message", [
    ("nomarkers", "no iteration markers"),
    ("thread", "second thread"),
    ("exit", "iteration 0 began but never ended"),
    ("die", "iteration 0 began but its counts never came: the program died"),
])
def test_bad_runs_give_clear_errors(build_cache, tmp_path, mode, message):
    run = run_selftest("armv7", tmp_path, mode, 2, 2)
    with pytest.raises(EdgebenchError, match=message):
        parse_counts(run.counts_file)


@pytest.mark.slow
def test_truncated_output_is_refused(build_cache, tmp_path):
    run = run_selftest("aarch64", tmp_path, "work", 2, 2)
    text = run.counts_file.read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: text.index('"kind":"window","iteration":1') + 30])
    with pytest.raises(EdgebenchError, match="truncated or corrupt"):
        parse_counts(cut)


@pytest.mark.slow
def test_a_plugin_for_another_api_version_is_refused(build_cache, tmp_path):
    lib = tmp_path / "eb_counters_v2.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-DEB_API_VERSION=2", "-o", str(lib),
                    str(plugin.PLUGIN_SOURCE)], check=True)
    exe = plugin.build_selftest("armv7")
    proc = subprocess.run([*plugin.selftest_qemu("armv7"), *plugin.plugin_args(tmp_path / "c.jsonl", lib=lib),
                           str(exe), "work", "1", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "plugin requires API version 2, but this QEMU supports only up to version 1" in proc.stderr
    with pytest.raises(EdgebenchError, match="QEMU did not load the counting plugin"):
        parse_counts(tmp_path / "c.jsonl")


@pytest.mark.slow
def test_the_plugin_refuses_a_bad_cache_geometry(build_cache, tmp_path):
    lib = plugin.build_plugin()
    exe = plugin.build_selftest("armv7")
    proc = subprocess.run([*plugin.selftest_qemu("armv7"), "-plugin",
                           f"{lib},out={tmp_path / 'c.jsonl'},l1d=3000:4:32", str(exe), "work", "1", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "eb_counters: l1d=3000:4:32 is not BYTES:WAYS:LINE" in proc.stderr
    three_way = subprocess.run([*plugin.selftest_qemu("armv7"), "-plugin",
                                f"{lib},out={tmp_path / 'a72.jsonl'},l1i=49152:3:64", str(exe), "work", "1", "1"],
                               capture_output=True, text=True, timeout=60)
    assert three_way.returncode == 0, three_way.stderr  # the A72's 3-way L1I is a valid cache


@pytest.mark.slow
def test_plugin_build_is_cached(build_cache):
    assert plugin.build_plugin() == plugin.build_plugin()
    assert plugin.build_plugin().stat().st_size > 0


@pytest.mark.slow
def test_a_qemu_without_plugin_support_is_named():
    """qemu-user-static (62 MB, not installed here) has no -plugin option; any real program whose -h lists
    none stands in for it, and the real qemu-arm-static is checked too when it is on PATH."""
    with pytest.raises(EdgebenchError, match="has no TCG plugin support") as err:
        plugin.require_plugin_support("true")
    assert "qemu-user-static" in err.value.hint and "apt-get install qemu-user" in err.value.hint
    with pytest.raises(EdgebenchError, match="not found on PATH"):
        plugin.require_plugin_support("qemu-arm-nonexistent")
    if shutil.which("qemu-arm-static"):
        with pytest.raises(EdgebenchError, match="has no TCG plugin support"):
            plugin.require_plugin_support("qemu-arm-static")
    plugin.require_plugin_support("qemu-arm")  # Debian's qemu-user passes


@pytest.mark.slow
def test_cache_off_still_counts_instructions(build_cache, tmp_path):
    on = parse_counts(run_selftest("armv7", tmp_path, "kernel", 2, 100, name="on.jsonl").counts_file)
    off = run_selftest("armv7", tmp_path, "kernel", 2, 100, caches=None, name="off.jsonl")
    with pytest.raises(EdgebenchError, match="cache model off"):
        parse_counts(off.counts_file)
    assert f'"instructions":{on[1].instructions},' in off.counts_file.read_text()


@pytest.mark.slow
def test_a_plugin_that_refuses_to_start_is_a_clear_error(build_cache, tmp_path):
    with pytest.raises(EdgebenchError, match="the counting plugin refused to start: cannot write .*no/such/dir"):
        run_selftest("armv7", tmp_path / "no" / "such" / "dir", "work", 1, 1)


@pytest.mark.slow
def test_runner_counts_do_not_depend_on_where_it_runs_or_its_environment(build_cache, tmp_path):
    """The real runner, given the same relative argv (as `edgebench run` does) from two different working
    folders and environments of different sizes: every field, cache misses included, is equal (the runner
    starts its work at a fixed stack offset; its heap holds only the argv's strings)."""
    from edgebench.ncnn_tools.build import build_runtime
    from edgebench.ncnn_tools.reference import REFERENCE_DIR
    from edgebench.ncnn_tools.runner_options import RunnerOptions
    from edgebench.results.result import RunSettings

    runner = build_runtime("armv7", progress=False).runner
    here, there = tmp_path / "a", tmp_path / "a much" / "longer" / "working folder"
    runs = []
    for cwd, extra_env in ((here, {}), (there, {"EDGEBENCH_PAD": "x" * 3000})):
        (cwd / "runtime").mkdir(parents=True)
        shutil.copy(runner, cwd / "runtime" / "edgebench-runner")
        shutil.copy(REFERENCE_DIR / "shufflenet.param", cwd / "model.param")
        argv = ["./runtime/edgebench-runner", *RunnerOptions(param="model.param", settings=RunSettings(loops=1, warmup=0)).argv()]
        run = plugin.run_counted(["qemu-arm", "-cpu", "cortex-a9"], argv, tmp_path / f"c{len(runs)}.jsonl",
                                 env={**os.environ, **extra_env}, cwd=cwd, timeout=600)
        assert run.returncode == 0, run.stderr
        runs.append(parse_counts(run.counts_file))
    assert runs[0] == runs[1]
