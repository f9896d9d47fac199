"""The native runtime for real: cross-built NCNN + edgebench-runner, run under qemu-user and on the host.

Slow: the first run builds three runtimes (armv7, aarch64, host; ~1.5 + 2.5 + ? min cold on 2 cores, seconds with
a warm ccache). Builds go to EDGEBENCH_TEST_CACHE when it is set (share it between runs and with CI's cache),
else to a fresh session tmp dir. Needs cmake, ninja (or make), g++, g++-arm-linux-gnueabihf,
g++-aarch64-linux-gnu, binutils, qemu-user, the ncnn and pnnx wheels, and network access to PyPI unless
EDGEBENCH_TEST_CACHE already holds the sdist.

Adding a model to the emulated parity check is one line in PARITY_MODELS (see `model_files`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.export.convert import convert
from edgebench.export.host_inference import run_ncnn, run_torch
from edgebench.export.to_onnx import export_onnx
from edgebench.models.registry import suite
from edgebench.ncnn_tools import build as build_module
from edgebench.ncnn_tools.build import Runtime, build_runtime
from edgebench.ncnn_tools.elf_check import arm_attributes, require_no_vfpv4
from edgebench.ncnn_tools.layers import KEPT_LAYERS, all_layers
from edgebench.ncnn_tools.local_run import run_runner
from edgebench.ncnn_tools.reference import REFERENCE_DIR
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.ncnn_tools.seeded_input import seeded_input
from edgebench.ncnn_tools.source import source_tree
from edgebench.results.result import RunSettings

pytestmark = pytest.mark.slow

REFERENCE = REFERENCE_DIR
REFERENCE_PARAMS = sorted(REFERENCE.glob("*.param"))
EMULATORS = {
    "armv7": ["qemu-arm", "-cpu", "cortex-a9"],
    "aarch64": ["qemu-aarch64", "-cpu", "cortex-a53"],
    "host": [],
}
QUICK = RunSettings(loops=1, warmup=0)  # mobilenet is ~8 s per inference under qemu-arm
EMULATED_TIMEOUT = 900


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def runtime(shared_cache) -> Callable[[str], Runtime]:
    """runtime(arch): the built runtime, built on first use in this session."""
    built: dict[str, Runtime] = {}

    def get(arch: str) -> Runtime:
        if arch not in built:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("EDGEBENCH_CACHE", str(shared_cache))
                built[arch] = build_runtime(arch, progress=False)
        return built[arch]

    return get


@dataclass(frozen=True)
class NcnnModel:
    param: Path
    bin: Path
    shape: tuple[int, int, int]  # C, H, W
    input_blob: str = "in0"
    output_blob: str = "out0"
    torch_output: np.ndarray | None = None  # the source model's answer on seeded_input, when there is one


class _Shuffle(torch.nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class TinyCnn(torch.nn.Module):
    """Every op family of the zoo in a few KB: conv/BN/ReLU, depthwise + LeakyReLU, grouped 1x1 + channel
    shuffle, residual add, max/avg pool + concat, a (1,2)-stride conv (EffNet), global pool, linear."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16),
                                nn.LeakyReLU(0.1))
        self.group = nn.Conv2d(16, 16, 1, groups=4)
        self.shuffle = _Shuffle(4)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.avgpool = nn.AvgPool2d(3, 2, 1)
        self.strided = nn.Conv2d(32, 24, (1, 2), stride=(1, 2))
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.shuffle(self.group(self.dw(x) + x))
        z = torch.cat([self.maxpool(y), self.avgpool(x)], 1)
        z = torch.relu(self.strided(z)).mean((2, 3))
        return self.head(z)


def tiny_cnn(scratch: Path) -> NcnnModel:
    torch.manual_seed(0)
    model = TinyCnn().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    shape = (3, 32, 32)
    onnx_path = scratch / "tiny.onnx"
    export_onnx(model, (1, *shape), onnx_path)
    conv = convert(onnx_path, "input", "output", [1, *shape], scratch / "pnnx")  # pnnx with fp16=0
    return NcnnModel(conv.param, conv.bin, shape, conv.input_blob, conv.output_blob,
                     torch_output=run_torch(model, seeded_input(shape)[None]).ravel())


def model_files(param: str | Path, bin: str | Path, shape: tuple[int, int, int]) -> Callable[[Path], NcnnModel]:
    """For an exported artifact already on disk, e.g. the zoo's: ("fd_mobilenet_1.0x", model_files(p, b, (3,224,224)))."""
    return lambda scratch: NcnnModel(Path(param), Path(bin), shape)


def zoo_model(name: str) -> Callable[[Path], NcnnModel]:
    """A zoo model through the real export pipeline (its torch/ONNX/NCNN parity is checked there)."""

    def make(scratch: Path) -> NcnnModel:
        from edgebench.export.pipeline import export_artifact
        from edgebench.export.source import resolve_source

        manifest, folder = export_artifact(resolve_source(name), scratch)
        return NcnnModel(folder / manifest.param_file, folder / manifest.bin_file, tuple(manifest.ncnn_input.shape),
                         manifest.ncnn_input.name, manifest.ncnn_output.name)

    return make


# The FD-MobileNet paper's nine models and EffNet: what `edgebench reproduce fd-mobilenet` runs.
ZOO_PARITY = (*suite("paper"), "effnet_cifar10")

# (name, factory): each factory makes (or finds) a .param/.bin with real weights in a scratch dir.
PARITY_MODELS: list[tuple[str, Callable[[Path], NcnnModel]]] = [
    ("tiny_cnn", tiny_cnn),
    *[(name, zoo_model(name)) for name in ZOO_PARITY],
]


@pytest.fixture(scope="session")
def parity_model(tmp_path_factory) -> Callable[[str], NcnnModel]:
    made: dict[str, NcnnModel] = {}

    def get(name: str) -> NcnnModel:
        if name not in made:
            made[name] = dict(PARITY_MODELS)[name](tmp_path_factory.mktemp(name))
        return made[name]

    return get


def _raw_run(runtime: Runtime, args: list[str], emulator: list[str] = ()) -> tuple[int, dict]:
    """Exit code and the one JSON document on stdout (fails the test if stdout is not exactly that)."""
    proc = subprocess.run([*emulator, str(runtime.runner), *args], capture_output=True, text=True, timeout=600)
    return proc.returncode, json.loads(proc.stdout)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ------------------------------------------------------------------------------------------ builds

def test_armv7_runner_is_vfpv3_neon_without_vfpv4(runtime):
    attrs = arm_attributes(runtime("armv7").runner)
    assert "Tag_FP_arch: VFPv3" in attrs and "Tag_Advanced_SIMD_arch: NEONv1" in attrs
    assert "vfpv4" not in attrs.lower() and "fused-mac" not in attrs.lower()
    require_no_vfpv4(runtime("armv7").runner)


def test_vfpv4_binary_is_refused(tmp_path):
    src = tmp_path / "f.c"
    src.write_text("float f(float a, float b, float c) { return a * b + c; }\n")
    obj = tmp_path / "f.o"
    subprocess.run(["arm-linux-gnueabihf-gcc", "-O2", "-march=armv7-a", "-mfloat-abi=hard", "-mfpu=neon-vfpv4",
                    "-c", str(src), "-o", str(obj)], check=True)
    with pytest.raises(EdgebenchError, match="newer FPU"):
        require_no_vfpv4(obj)


def test_runners_are_static(runtime):
    for arch in ("armv7", "aarch64", "host"):
        out = subprocess.run(["file", "-L", str(runtime(arch).runner)], capture_output=True, text=True).stdout
        assert "statically linked" in out, out


def test_warm_build_runs_no_cmake(runtime, shared_cache, tmp_path, monkeypatch):
    for arch in EMULATORS:
        runtime(arch)  # make sure all three are built
    tripwire = tmp_path / "bin"
    tripwire.mkdir()
    fired = tmp_path / "cmake-was-run"
    (tripwire / "cmake").write_text(f"#!/bin/sh\ntouch {fired}\nexit 1\n")
    (tripwire / "cmake").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tripwire}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    for arch in EMULATORS:
        again = build_runtime(arch, progress=False)
        assert again.from_cache and again.key == runtime(arch).key and again.runner == runtime(arch).runner
    assert not fired.exists()


def test_cli_build_prints_the_cached_runner(runtime, shared_cache, monkeypatch):
    runtime("armv7")
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    result = CliRunner().invoke(main, ["build", "--arch", "armv7", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["cached"] is True and doc["runner"] == str(runtime("armv7").runner) and doc["key"] == runtime("armv7").key
    plain = CliRunner().invoke(main, ["build", "--arch", "armv7"])
    assert plain.stdout.strip() == str(runtime("armv7").runner)


def test_failed_build_keeps_its_log_and_publishes_nothing(runtime, shared_cache, tmp_path, monkeypatch):
    runtime("host")  # the library is cached; only the (broken) runner is rebuilt
    broken = tmp_path / "runner"
    shutil.copytree(build_module.RUNNER_SOURCE_DIR, broken)
    cpp = broken / "edgebench_runner.cpp"
    cpp.write_text(cpp.read_text() + "\nthis is not C++;\n")
    monkeypatch.setattr(build_module, "RUNNER_SOURCE_DIR", broken)
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    before = set((shared_cache / "runtimes").iterdir())
    with pytest.raises(EdgebenchError, match="failed at 'build runner'") as exc:
        build_runtime("host", progress=False)
    log = Path(exc.value.hint.removeprefix("full log: "))
    assert log.is_file() and "this is not C++" in log.read_text()
    after = set((shared_cache / "runtimes").iterdir())
    assert [p.name for p in after - before] in ([], ["logs"]), "no half entry, no leftover staging folder"


def test_kept_layers_include_everything_ncnn_creates_internally(shared_cache, monkeypatch):
    """Re-derive the layer closure from the sdist: a switched-off layer that NCNN's core or a kept layer
    creates with create_layer*(LayerType::X) would link fine and crash at run time."""
    monkeypatch.setenv("EDGEBENCH_CACHE", str(shared_cache))
    src = source_tree() / "src"
    declared = set(all_layers(src.parent))
    creates = re.compile(r"create_layer\w*\(\s*(?:ncnn::)?LayerType::(\w+)")

    def created_by(paths: list[Path]) -> set[str]:
        found: set[str] = set()
        for path in paths:
            found |= set(creates.findall(path.read_text(errors="replace"))) & declared
        return found

    def layer_files(name: str) -> list[Path]:
        low = name.lower()
        files = [*src.glob(f"layer/{low}.*"), *src.glob(f"layer/*/{low}_*")]
        for f in list(files):  # helpers a layer includes (fused_activation.h, conv kernels, ...)
            for inc in re.findall(r'#include "(\w+\.h)"', f.read_text(errors="replace")):
                files += [p for p in src.glob(f"layer/**/{inc}") if p not in files]
        return files

    needed = created_by([*src.glob("*.cpp"), *src.glob("*.h")])
    for name in sorted(KEPT_LAYERS):
        needed |= created_by(layer_files(name))
    assert needed <= set(KEPT_LAYERS), f"created internally but switched off: {sorted(needed - set(KEPT_LAYERS))}"
    assert len(declared) - len(KEPT_LAYERS) > 60, "most layers are switched off"


# ------------------------------------------------------------------------------------------ reference params

@pytest.mark.parametrize("arch", ["armv7", "aarch64"])
@pytest.mark.parametrize("param", REFERENCE_PARAMS, ids=lambda p: p.stem)
def test_reference_param_runs_emulated(runtime, arch, param):
    rt = runtime(arch)
    report = run_runner(rt.runner, RunnerOptions(param=str(param), settings=QUICK), EMULATORS[arch],
                        timeout=EMULATED_TIMEOUT)
    assert report.build.arch == arch and report.ncnn_version == rt.ncnn_version
    assert len(report.samples_ms) == 1 and report.samples_ms[0] > 0 and report.first_inference_ms > 0
    assert report.output.shape and np.isfinite(report.output.checksum.l2)
    assert report.settings.bin is None and len(report.settings.shape) == 3


# ------------------------------------------------------------------------------------------ parity

@pytest.mark.parametrize("arch", ["armv7", "aarch64", "host"])
@pytest.mark.parametrize("fp16", [False, True], ids=["fp16-off", "fp16-on"])
@pytest.mark.parametrize("name", [name for name, _ in PARITY_MODELS])
def test_runner_output_matches_host_ncnn_python(runtime, parity_model, name, arch, fp16):
    model = parity_model(name)
    settings = RunSettings(loops=1, warmup=0, fp16_packed=fp16, fp16_storage=fp16, fp16_arithmetic=fp16)
    options = RunnerOptions(param=str(model.param), bin=str(model.bin), shape=model.shape,
                            input_blob=model.input_blob, output_blob=model.output_blob, settings=settings,
                            output_values=True)
    report = run_runner(runtime(arch).runner, options, EMULATORS[arch], timeout=EMULATED_TIMEOUT)
    got = np.array(report.output.values, dtype=np.float32)
    x = seeded_input(model.shape)[None]
    reference = run_ncnn(model.param, model.bin, model.input_blob, model.output_blob, x, fp16=False).ravel()
    if model.torch_output is not None:  # the reference itself is right (real weights, real conversion)
        assert np.abs(reference - model.torch_output).max() <= 1e-4 * max(1.0, np.abs(model.torch_output).max())
    assert got.shape == reference.shape
    assert _cosine(got, reference) >= 0.9999
    if not fp16:
        assert np.abs(got - reference).max() <= 1e-4 * max(1.0, np.abs(reference).max())
    else:  # and against host NCNN with the very switches being timed
        same_switches = run_ncnn(model.param, model.bin, model.input_blob, model.output_blob, x, fp16=True).ravel()
        assert _cosine(got, same_switches) >= 0.9999


@pytest.mark.parametrize("arch", ["armv7", "host"])
def test_input_file_and_seed_feed_the_same_tensor(runtime, parity_model, tmp_path, arch):
    """edgebench.ncnn_tools.seeded_input reproduces the runner's --seed input bit for bit."""
    model = parity_model("tiny_cnn")
    raw = tmp_path / "input.f32"
    seeded_input(model.shape, seed=5).astype("<f4").tofile(raw)
    common = dict(param=str(model.param), bin=str(model.bin), shape=model.shape, output_values=True)
    from_seed = run_runner(runtime(arch).runner, RunnerOptions(**common, settings=RunSettings(loops=1, warmup=0, seed=5)),
                           EMULATORS[arch], timeout=EMULATED_TIMEOUT)
    from_file = run_runner(runtime(arch).runner, RunnerOptions(**common, input=str(raw), settings=QUICK),
                           EMULATORS[arch], timeout=EMULATED_TIMEOUT)
    assert from_file.output.values == from_seed.output.values
    seed0 = run_runner(runtime(arch).runner, RunnerOptions(**common, settings=QUICK), EMULATORS[arch],
                       timeout=EMULATED_TIMEOUT)
    assert seed0.output.values != from_seed.output.values


# ------------------------------------------------------------------------------------------ timing, markers

def test_min_time_keeps_looping(runtime, parity_model):
    model = parity_model("tiny_cnn")
    options = RunnerOptions(param=str(model.param), bin=str(model.bin), shape=model.shape,
                            settings=RunSettings(loops=2, warmup=1, min_time_ms=150))
    report = run_runner(runtime("host").runner, options)
    assert len(report.samples_ms) > 2 and report.settings.min_time_ms == 150.0


def test_each_timed_iteration_is_marked_with_prctl(runtime, parity_model):
    """qemu-arm -strace shows the markers: begin/end around each timed iteration, then one 'done'."""
    model = parity_model("tiny_cnn")
    options = RunnerOptions(param=str(model.param), bin=str(model.bin), shape=model.shape,
                            settings=RunSettings(loops=3, warmup=2))
    proc = subprocess.run(["qemu-arm", "-strace", "-cpu", "cortex-a9", str(runtime("armv7").runner),
                           *options.argv()], capture_output=True, text=True, timeout=EMULATED_TIMEOUT)
    assert proc.returncode == 0, proc.stdout
    marks = re.findall(r"prctl\((\d+),(\d+),(\d+),", proc.stderr)
    magic = str(0x45424E43)
    assert [(p, i) for m, p, i in marks if m == magic] == [("1", "0"), ("2", "0"), ("1", "1"), ("2", "1"),
                                                           ("1", "2"), ("2", "2"), ("3", "3")]


# ------------------------------------------------------------------------------------------ bad input

BAD_INPUT_CASES = (
    "truncated bin", "bin too long", "garbage param", "truncated param", "layer not built", "missing param",
    "missing bin", "wrong channels", "shape vs declared", "no shape for pnnx param", "missing input file",
    "short input file", "no such output blob", "cpus and powersave", "unknown option", "bad switch",
)


def _bad_inputs(model: NcnnModel, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """case -> (runner arguments, expected error kind)."""
    truncated = tmp / "truncated.bin"
    truncated.write_bytes(model.bin.read_bytes()[: model.bin.stat().st_size // 2])
    too_long = tmp / "too_long.bin"
    too_long.write_bytes(model.bin.read_bytes() + b"\0" * 64)
    garbage = tmp / "garbage.param"
    garbage.write_bytes(np.random.default_rng(0).bytes(2000))
    cut_param = tmp / "cut.param"
    cut_param.write_text("\n".join(model.param.read_text().splitlines()[:5]) + "\n")
    off_layer = tmp / "tanh.param"  # TanH is switched off in this build
    off_layer.write_text("7767517\n2 2\nInput in 0 1 data 0=8 1=8 2=3\nTanH t 1 1 data out\n")
    short_input = tmp / "short.f32"
    np.zeros(10, dtype="<f4").tofile(short_input)
    ok = ["--param", str(model.param), "--bin", str(model.bin), "--shape", ",".join(map(str, model.shape))]
    mobilenet = str(REFERENCE / "mobilenet.param")
    cases = [
        ("truncated bin", ["--param", str(model.param), "--bin", str(truncated), "--shape", "3,32,32"], "model_load"),
        ("bin too long", ["--param", str(model.param), "--bin", str(too_long), "--shape", "3,32,32"], "model_load"),
        ("garbage param", ["--param", str(garbage), "--shape", "3,32,32"], "param_load"),
        ("truncated param", ["--param", str(cut_param), "--shape", "3,32,32"], "param_load"),
        ("layer not built", ["--param", str(off_layer)], "param_load"),
        ("missing param", ["--param", str(tmp / "nope.param")], "param_load"),
        ("missing bin", ["--param", str(model.param), "--bin", str(tmp / "nope.bin"), "--shape", "3,32,32"],
         "model_load"),
        ("wrong channels", ["--param", str(model.param), "--bin", str(model.bin), "--shape", "4,32,32"],
         "input_shape"),
        ("shape vs declared", ["--param", mobilenet, "--shape", "3,100,100"], "input_shape"),
        ("no shape for pnnx param", ["--param", str(model.param), "--bin", str(model.bin)], "usage"),
        ("missing input file", [*ok, "--input", str(tmp / "nope.f32")], "input_file"),
        ("short input file", [*ok, "--input", str(short_input)], "input_file"),
        ("no such output blob", [*ok, "--output-blob", "nope"], "extract"),
        ("cpus and powersave", [*ok, "--cpus", "0", "--powersave", "2"], "usage"),
        ("unknown option", [*ok, "--fast"], "usage"),
        ("bad switch", [*ok, "--fp16", "maybe"], "usage"),
    ]
    assert tuple(name for name, _, _ in cases) == BAD_INPUT_CASES
    return {name: (args, kind) for name, args, kind in cases}


@pytest.mark.parametrize("case", BAD_INPUT_CASES)
def test_bad_input_gives_json_error_on_host(runtime, parity_model, tmp_path, case):
    args, kind = _bad_inputs(parity_model("tiny_cnn"), tmp_path)[case]
    code, doc = _raw_run(runtime("host"), args)
    assert code != 0
    assert doc["schema"] == "edgebench-runner/3" and doc["error"]["kind"] == kind, doc
    assert doc["error"]["message"]


@pytest.mark.parametrize("case", ["truncated bin", "garbage param", "wrong channels", "layer not built"])
def test_bad_input_gives_json_error_emulated(runtime, parity_model, tmp_path, case):
    args, kind = _bad_inputs(parity_model("tiny_cnn"), tmp_path)[case]
    code, doc = _raw_run(runtime("armv7"), args, EMULATORS["armv7"])
    assert code != 0 and doc["error"]["kind"] == kind, doc
    with pytest.raises(EdgebenchError, match=kind):
        run_runner(runtime("armv7").runner, _options_from_args(args), EMULATORS["armv7"])


def _options_from_args(args: list[str]) -> RunnerOptions:
    pairs = dict(zip(args[::2], args[1::2]))
    shape = tuple(int(v) for v in pairs["--shape"].split(",")) if "--shape" in pairs else None
    return RunnerOptions(param=pairs["--param"], bin=pairs.get("--bin"), shape=shape, settings=QUICK)
