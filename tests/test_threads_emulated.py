"""The threaded runtime and the profiling runtime for real, under qemu-arm and qemu-aarch64 (issue 17).

Slow: builds (or takes from EDGEBENCH_TEST_CACHE) the timed and the profiling runtime of both arches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.build import build_runtime
from edgebench.ncnn_tools.local_run import run_runner
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.results.result import RunSettings
from test_runtime_emulated import EMULATORS, tiny_cnn

pytestmark = pytest.mark.slow

ARCHES = ("armv7", "aarch64")
TIMEOUT = 600


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_cnn(tmp_path_factory.mktemp("tiny"))


def _options(model, **settings) -> RunnerOptions:
    return RunnerOptions(param=str(model.param), bin=str(model.bin), shape=model.shape, input_blob=model.input_blob,
                         output_blob=model.output_blob, output_values=True,
                         settings=RunSettings(loops=2, warmup=1, **settings))


@pytest.mark.parametrize("arch", ARCHES)
def test_threads_give_the_single_thread_output(arch, tiny, build_cache):
    runtime = build_runtime(arch, progress=False)
    outputs = {}
    for threads in (1, 2, 4):
        report = run_runner(runtime.runner, _options(tiny, threads=threads), EMULATORS[arch], timeout=TIMEOUT)
        assert report.build.openmp and not report.build.profile and report.settings.threads == threads
        assert report.layers is None
        outputs[threads] = np.asarray(report.output.values)
    assert np.array_equal(outputs[1], outputs[2]) and np.array_equal(outputs[1], outputs[4])
    assert np.allclose(outputs[1], tiny.torch_output, rtol=1e-2, atol=1e-3)  # and it is the model's answer


def _param_layers(param: Path) -> list[tuple[str, str]]:
    """(name, type) of every layer NCNN runs: all but Input, which it never forwards."""
    lines = [ln.split() for ln in param.read_text().splitlines()[2:] if ln.strip()]
    return [(tok[1], tok[0]) for tok in lines if tok[0] != "Input"]


@pytest.mark.parametrize("arch", ARCHES)
def test_the_profile_lists_the_params_layers(arch, tiny, build_cache):
    runtime = build_runtime(arch, profile=True, progress=False)
    assert runtime.profile and "-DNCNN_BENCHMARK=ON" in runtime.cmake_options
    assert runtime.key != build_runtime(arch, progress=False).key
    report = run_runner(runtime.runner, _options(tiny, threads=2), EMULATORS[arch], timeout=TIMEOUT)
    assert report.build.profile
    assert sorted((x.name, x.type) for x in report.layers) == sorted(_param_layers(tiny.param))
    assert all(len(x.samples_ms) == len(report.samples_ms) and min(x.samples_ms) >= 0 for x in report.layers)
    # the layers' times sit inside the timed iterations they were measured in
    for i, total in enumerate(report.samples_ms):
        assert sum(x.samples_ms[i] for x in report.layers) <= total + 0.01 * len(report.layers)


def test_affinity_arguments_reach_ncnn_and_bad_ones_are_refused(tiny, build_cache):
    runtime = build_runtime("aarch64", progress=False)
    report = run_runner(runtime.runner, _options(tiny, cpus=[0]), EMULATORS["aarch64"], timeout=TIMEOUT)
    assert report.cpus_used == [0] and report.settings.cpus == [0]
    assert run_runner(runtime.runner, _options(tiny), EMULATORS["aarch64"], timeout=TIMEOUT).cpus_used == \
        list(range(report.cpu.count))  # powersave 0: every CPU NCNN sees
    with pytest.raises(EdgebenchError, match="--cpus names CPU 1023 but this board has"):
        run_runner(runtime.runner, _options(tiny, cpus=[1023]), EMULATORS["aarch64"], timeout=TIMEOUT)
    # The CI hosts' cores are all alike (one max frequency, or no cpufreq at all): no little core to select.
    with pytest.raises(EdgebenchError, match="--powersave 1 selects no core"):
        run_runner(runtime.runner, _options(tiny, powersave=1), EMULATORS["aarch64"], timeout=TIMEOUT)
