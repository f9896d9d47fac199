"""The counting plugin's symbols=on mode: the timed windows' counts attributed to guest functions.

Slow tests build the plugin and the static self-test guest (ncnn_tools/qemu_plugin/selftest.c, whose asm
`kernel` is a function of its own: one trip = 8 instructions, 16 bytes loaded, 4 stored) with the real
cross-compilers and run it under the real qemu-arm / qemu-aarch64. Build cache: EDGEBENCH_TEST_CACHE when
set, else a tmp dir.
"""

from __future__ import annotations

import dataclasses

import pytest

from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools import plugin
from edgebench.caches import IMX6_CACHES
from edgebench.ncnn_tools.plugin import parse_counts, parse_function_counts

ARCHS = ("armv7", "aarch64")
FIELDS = ("instructions", "bytes_loaded", "bytes_stored", "l1d_misses", "l1i_misses", "l2_misses")


def counted(arch, tmp_path, *args, symbols=True, name="counts.jsonl"):
    exe = plugin.build_selftest(arch)
    run = plugin.run_counted(plugin.selftest_qemu(arch), [str(exe), *map(str, args)], tmp_path / name,
                             IMX6_CACHES, timeout=300, symbols=symbols)
    assert run.returncode == 0, run.stderr
    return run.counts_file


def by_name(functions):
    return {f.name: f for f in functions}


# ---- fast: the parser's judgement ----

START = '{"kind":"start","schema":"edgebench-counts/1","target":"arm","api":1,"cache":null}'


def window(i, n):
    values = {f.name: n for f in dataclasses.fields(plugin.IterationCounts)}
    return '{"kind":"window","iteration":%d,%s}' % (i, ",".join(f'"{k}":{v}' for k, v in values.items()))


def functions_record(iterations, *per_function, symbols=10):
    body = ",".join('{"name":%s,"address":%s,%s}' % (
        "null" if name is None else f'"{name}"', "null" if name is None else 4096,
        ",".join(f'"{k}":{n}' for k in FIELDS)) for name, n in per_function)
    return '{"kind":"functions","iterations":%d,"symbols":%d,"functions":[%s]}' % (iterations, symbols, body)


def write(tmp_path, *lines):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_function_counts_are_read_and_must_add_up_to_the_windows(tmp_path):
    done = '{"kind":"done","windows":2,"arm_state_from":"elf-mapping-symbols"}'
    good = write(tmp_path, START, window(0, 5), window(1, 5), functions_record(2, ("f", 7), (None, 3)), done)
    f, outside = parse_function_counts(good)
    assert (f.name, f.iterations, f.instructions, f.l2_misses) == ("f", 2, 7, 7)
    assert outside.name is None and outside.address is None and outside.bytes_stored == 3
    short = write(tmp_path, START, window(0, 5), window(1, 5), functions_record(2, ("f", 9)), done)
    with pytest.raises(EdgebenchError, match="summed over functions"):
        parse_function_counts(short)


@pytest.mark.parametrize("extra, message", [
    ((), "without symbols=on"),
    ((functions_record(2, ("f", 10), symbols=0),), "no function symbols"),
    ((functions_record(1, ("f", 10)),), "cover 1 iteration"),
])
def test_function_counts_refuse_what_cannot_be_trusted(tmp_path, extra, message):
    done = '{"kind":"done","windows":2,"arm_state_from":"elf-mapping-symbols"}'
    path = write(tmp_path, START, window(0, 5), window(1, 5), *extra, done)
    with pytest.raises(EdgebenchError, match=message):
        parse_function_counts(path)


def test_plugin_args_symbols_is_opt_in(tmp_path):
    lib = tmp_path / "lib.so"
    assert "symbols=on" not in plugin.plugin_args(tmp_path / "c", lib=lib)[1]
    assert plugin.plugin_args(tmp_path / "c", lib=lib, symbols=True)[1].endswith(",symbols=on")


# ---- slow: the real plugin under the real QEMU ----

@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_the_kernel_function_gets_exactly_its_trips(build_cache, tmp_path, arch):
    """kernel runs TRIPS*(i+1) trips in iteration i: 8 instructions, 16 bytes loaded, 4 stored per trip,
    plus a fixed entry/exit per call; doubling TRIPS adds exactly the trips' share to kernel alone."""
    runs = {trips: parse_function_counts(counted(arch, tmp_path, "kernel", 4, trips, name=f"{trips}.jsonl"))
            for trips in (1000, 2000)}
    added_trips = (2000 - 1000) * (1 + 2 + 3 + 4)
    one, two = by_name(runs[1000]), by_name(runs[2000])
    for field, per_trip in (("instructions", 8), ("bytes_loaded", 16), ("bytes_stored", 4)):
        assert getattr(two["kernel"], field) - getattr(one["kernel"], field) == added_trips * per_trip, field
    calls = 4
    entry_exit = one["kernel"].instructions - 8 * 1000 * (1 + 2 + 3 + 4)
    assert 0 < entry_exit <= 8 * calls and entry_exit % calls == 0  # the same few instructions per call
    for name in set(one) - {"kernel"}:  # everything else does the same work whatever TRIPS is
        assert two[name].instructions == one[name].instructions, name


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("mode, n", [("kernel", 500), ("sweep", 256 << 10), ("work", 20)])
def test_functions_add_up_to_the_windows_exactly(build_cache, tmp_path, arch, mode, n):
    path = counted(arch, tmp_path, mode, 3, n)
    windows, functions = parse_counts(path), parse_function_counts(path)
    for field in FIELDS:  # parse_function_counts checks this too; asserted here so the test says it
        assert sum(getattr(f, field) for f in functions) == sum(getattr(w, field) for w in windows), field
    assert all(f.iterations == 3 for f in functions)
    assert all(any(getattr(f, k) for k in FIELDS) for f in functions)  # only functions with counts
    top = max(functions, key=lambda f: f.instructions)
    assert top.name == {"kernel": "kernel", "sweep": "run", "work": "work"}[mode]  # gcc -O2 inlines sweep


@pytest.mark.slow
def test_symbols_off_leaves_the_output_unchanged(build_cache, tmp_path):
    on = counted("armv7", tmp_path, "work", 2, 10, name="on.jsonl")
    off = counted("armv7", tmp_path, "work", 2, 10, symbols=False, name="off.jsonl")
    kept = [line for line in on.read_text().splitlines() if '"kind":"functions"' not in line]
    assert kept == off.read_text().splitlines()
    with pytest.raises(EdgebenchError, match="without symbols=on"):
        parse_function_counts(off)
