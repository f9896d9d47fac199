"""Fast tests of the native runtime's Python side: sdist checks, arch options, report parsing, seeded input.

The builds and emulated runs themselves are in test_runtime_emulated.py (slow).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools import archs, source
from edgebench.ncnn_tools.build import build_runtime
from edgebench.ncnn_tools.layers import KEPT_LAYERS
from edgebench.ncnn_tools.reference import REFERENCE_DIR
from edgebench.ncnn_tools.report import parse_runner_output
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.ncnn_tools.seeded_input import seeded_input
from edgebench.results.result import RunSettings

REFERENCE = REFERENCE_DIR


# ------------------------------------------------------------------------------------------ sdist download

def _tiny_sdist(tmp_path: Path) -> Path:
    """A real .tar.gz laid out like the sdist (one top folder holding CMakeLists.txt)."""
    archive = tmp_path / "upstream" / "ncnn-9.9.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        data = b"project(ncnn)\n"
        info = tarfile.TarInfo("ncnn-9.9/CMakeLists.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive


def test_sdist_is_downloaded_verified_and_unpacked_once(tmp_path, edgebench_dirs):
    archive = _tiny_sdist(tmp_path)
    pinned = source.NcnnSource("9.9", archive.as_uri(), hashlib.sha256(archive.read_bytes()).hexdigest())
    tree = source.source_tree(pinned)
    assert (tree / "CMakeLists.txt").read_text() == "project(ncnn)\n"
    archive.unlink()  # a second call must not need the network
    assert source.source_tree(pinned) == tree


def test_sdist_hash_mismatch_is_refused_naming_both_hashes(tmp_path, edgebench_dirs):
    archive = _tiny_sdist(tmp_path)
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    pinned = source.NcnnSource("9.9", archive.as_uri(), "0" * 64)
    with pytest.raises(EdgebenchError) as exc:
        source.fetch_archive(pinned)
    assert actual in exc.value.message and "0" * 64 in exc.value.message
    assert not list((edgebench_dirs / "cache" / "sources").glob("*.tar.gz")), "a bad download must not be kept"


def test_cached_sdist_that_was_tampered_with_is_refused(tmp_path, edgebench_dirs):
    archive = _tiny_sdist(tmp_path)
    pinned = source.NcnnSource("9.9", archive.as_uri(), hashlib.sha256(archive.read_bytes()).hexdigest())
    cached = source.fetch_archive(pinned)
    cached.write_bytes(cached.read_bytes() + b"x")
    with pytest.raises(EdgebenchError, match="does not match the pinned"):
        source.fetch_archive(pinned)


def test_unreachable_url_is_one_clear_error(tmp_path, edgebench_dirs):
    pinned = source.NcnnSource("9.9", (tmp_path / "nowhere.tar.gz").as_uri(), "0" * 64)
    with pytest.raises(EdgebenchError, match="could not download"):
        source.fetch_archive(pinned)


def test_pinned_version_goes_to_cmake_as_the_date():
    assert source.PINNED.cmake_version == "20261020"


# ------------------------------------------------------------------------------------------ arches, compilers

def test_missing_cross_compiler_names_the_debian_package(tmp_path, monkeypatch, edgebench_dirs):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH at all
    with pytest.raises(EdgebenchError) as exc:
        build_runtime("armv7", progress=False)
    assert "arm-linux-gnueabihf-gcc not found" in exc.value.message
    assert exc.value.hint == "sudo apt-get install g++-arm-linux-gnueabihf"
    with pytest.raises(EdgebenchError) as exc:
        build_runtime("aarch64", progress=False)
    assert exc.value.hint == "sudo apt-get install g++-aarch64-linux-gnu"


def test_cli_build_reports_missing_compiler_as_one_line(tmp_path, monkeypatch, edgebench_dirs):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["build", "--arch", "aarch64"])
    assert result.exit_code == 2
    assert "aarch64-linux-gnu-gcc not found" in result.output and "g++-aarch64-linux-gnu" in result.output


def test_unknown_arch_is_refused():
    with pytest.raises(EdgebenchError, match="unknown arch"):
        archs.arch_spec("mips")


def test_armv7_toolchain_is_cortex_a9_safe():
    text = archs.ARMV7.toolchain.read_text()
    assert '"-march=armv7-a -mfloat-abi=hard -mfpu=neon -marm"' in text
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "vfpv4" in line.lower()]
    assert "-DNCNN_VFPV4=OFF" in archs.ARMV7.ncnn_options and archs.ARMV7.check_no_vfpv4


def test_host_build_compiles_one_x86_code_path():
    full = archs._x86_host_options({"avx", "avx2", "fma", "f16c", "avx512f"})
    assert "-DNCNN_RUNTIME_CPU=OFF" in full and "-DNCNN_AVX2=ON" in full and "-DNCNN_AVX512=OFF" in full
    old = archs._x86_host_options({"sse2"})
    assert "-DNCNN_AVX=OFF" in old and "-DNCNN_AVX2=ON" not in old


# ------------------------------------------------------------------------------------------ layers

def test_every_reference_param_layer_is_kept():
    used = set()
    for param in REFERENCE.glob("*.param"):
        used |= {line.split()[0] for line in param.read_text().splitlines()[2:] if line.strip()}
    assert used, "no reference params found"
    assert used <= set(KEPT_LAYERS), f"switched off but used: {sorted(used - set(KEPT_LAYERS))}"


# ------------------------------------------------------------------------------------------ seeded input

def test_seeded_input_is_the_documented_lcg():
    expected, state = [], 7
    for _ in range(3 * 4 * 5):
        state = (state * 1664525 + 1013904223) % 2**32
        expected.append((state >> 8) / 2**23 - 1.0)
    got = seeded_input((3, 4, 5), seed=7)
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (3, 4, 5)
    assert np.array_equal(got.ravel(), np.array(expected, dtype=np.float32))


def test_seeded_input_spans_minus_one_to_one_across_blocks():
    x = seeded_input((3, 64, 64), seed=0)  # more than one 4096-value block
    assert -1.0 <= x.min() < -0.99 and 0.99 < x.max() < 1.0
    assert not np.array_equal(x, seeded_input((3, 64, 64), seed=1))


# ------------------------------------------------------------------------------------------ options, report

def test_options_become_the_runner_command_line():
    opts = RunnerOptions(param="m.param", bin="m.bin", shape=(3, 224, 224), output_values=True,
                         settings=RunSettings(loops=5, warmup=1, min_time_ms=250, fp16_packed=False,
                                              fp16_storage=False, fp16_arithmetic=False))
    argv = opts.argv()
    assert argv[:6] == ["--param", "m.param", "--bin", "m.bin", "--shape", "3,224,224"]
    pairs = dict(zip(argv[6::2], argv[7::2]))
    assert pairs["--loops"] == "5" and pairs["--warmup"] == "1" and pairs["--fp16"] == "off"
    assert pairs["--min-time-ms"] == "250.0" and "--output-values" in argv


def test_mixed_fp16_settings_are_refused():
    with pytest.raises(EdgebenchError, match="together"):
        RunnerOptions(param="m.param", settings=RunSettings(fp16_storage=False)).argv()


def _report_doc(**output) -> dict:
    return {
        "schema": "edgebench-runner/3", "ncnn_version": "1.0.20261020",
        "build": {"arch": "armv7", "compiler": "gcc 12.2.0", "flags": "-O3", "openmp": True, "profile": False,
                  "markers": "prctl"},
        "settings": {"param": "m.param", "bin": None, "shape": [3, 8, 8], "input": None, "seed": 0,
                     "input_blob": "in0", "output_blob": "out0", "threads": 1, "powersave": 0, "cpus": None, "warmup": 0,
                     "loops": 2, "min_time_ms": 0, "fp16_packed": True, "fp16_storage": True,
                     "fp16_arithmetic": True, "bf16_storage": False, "packing_layout": True, "output_values": True},
        "timed_region": "ex.input + ex.extract; extractor created before the timer",
        "load_ms": {"param": 0.5, "model": 1}, "first_inference_ms": 3.5, "samples_ms": [2.0, 2.5],
        "peak_rss_kb": 1234, "cpus_used": [0], "layers": None,
        "cpu": {"count": 1, "big": 1, "little": 0, "physical": 1, "l2_cache_bytes": 131072, "l3_cache_bytes": 0,
                "a53_a55": False, "isa": ["edsp", "neon"]},
        "output": {"blob": "out0", "shape": [2], "checksum": {"sum": 1.0, "abs_sum": 1.0, "l2": 0.7},
                   "values": [0.25, 0.75], **output},
    }


def test_report_parses_into_typed_fields():
    report = parse_runner_output(json.dumps(_report_doc()))
    assert report.samples_ms == [2.0, 2.5] and report.load_ms.model == 1.0
    assert report.output.values == [0.25, 0.75] and report.settings.bin is None
    assert report.settings.run_settings() == RunSettings(loops=2, warmup=0)
    assert report.cpu.l2_cache_bytes == 131072 and report.cpu.isa == ["edsp", "neon"]


def test_report_nulls_are_nan():
    doc = _report_doc(values=[None, 1.0], checksum={"sum": None, "abs_sum": None, "l2": None})
    report = parse_runner_output(json.dumps(doc))
    assert math.isnan(report.output.values[0]) and math.isnan(report.output.checksum.l2)


def test_runner_error_object_becomes_edgebench_error():
    doc = {"schema": "edgebench-runner/3", "error": {"kind": "model_load", "message": "m.bin is too short"}}
    with pytest.raises(EdgebenchError, match=r"failed \(model_load\): m.bin is too short"):
        parse_runner_output(json.dumps(doc), exit_code=1, where="edgebench-runner on imx6")


@pytest.mark.parametrize("stdout", ["", "Segmentation fault", "{\"schema\": \"other/1\"}", "[1, 2]"])
def test_garbage_runner_output_is_one_clear_error(stdout):
    with pytest.raises(EdgebenchError):
        parse_runner_output(stdout, exit_code=139)


def test_report_with_missing_field_is_refused():
    doc = _report_doc()
    del doc["samples_ms"]
    with pytest.raises(EdgebenchError, match="malformed"):
        parse_runner_output(json.dumps(doc))
