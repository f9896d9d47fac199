"""A board that is this machine, for running the whole orchestration fast: a transport that runs commands
with subprocess in a tmp workdir, a runtime whose runner is a Python script printing the runner's report
(schema edgebench-runner/3) computed with the host NCNN binding, and a one-convolution NCNN artifact.

Nothing of the session is stood in for: prepare, deploy (hashes, temporaries, modes), the board lock and its
heartbeat, the state probe (the real-board snapshot script, run here), the run, parsing, the host-cosine check
and the store all run as they do against a real board.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edgebench.boards.board import BoardLink
from edgebench.boards.devices import Connection, Device
from edgebench.boards.real import RealBoard
from edgebench.boards.transport import CommandResult, CommandTimeout
from edgebench.export.manifest import ArtifactManifest, TensorInfo
from edgebench.hashing import sha256_file
from edgebench.ncnn_tools.build import Runtime
from edgebench.ncnn_tools.report import SCHEMA


class LocalTransport:
    """Transport to this machine: argv run by subprocess, files copied."""

    def __init__(self, name: str):
        self.name = name

    def run(self, argv: list[str], timeout: float | None = None,
            on_stderr_line: Callable[[str], None] | None = None) -> CommandResult:
        start = time.monotonic()
        try:
            done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CommandTimeout(f"{self.name}: `{argv[0]}` still running after {timeout:g} s; killed it") from None
        for line in done.stderr.splitlines() if on_stderr_line else ():
            on_stderr_line(line)  # after the end, not live: enough for orchestration tests
        signal = -done.returncode if done.returncode < 0 else None
        return CommandResult(tuple(str(a) for a in argv), done.stdout, done.stderr,
                             None if signal else done.returncode, signal, time.monotonic() - start)

    def put(self, local: str | Path, remote: str) -> None:
        shutil.copyfile(local, remote)

    def get(self, remote: str, local: str | Path) -> None:
        shutil.copyfile(remote, local)

    def close(self) -> None:
        pass


class LocalBoard(RealBoard):
    """A real board whose link is this machine, its workdir a tmp folder (timed, not counted)."""

    def __init__(self, device: Device, workdir: Path):
        super().__init__(device)
        self.workdir = workdir

    def open(self) -> BoardLink:
        return BoardLink(LocalTransport(self.device.name), str(self.workdir))


def local_device(name: str = "local") -> Device:
    return Device(name=name, arch="aarch64", cpu="host", cores=2, clock_mhz=1000, source=Path("tests/fake_board.py"),
                  connection=Connection(host="localhost"))


# How the stand-in runner ends: a report of what host NCNN computes, the same with the output negated (the
# board computed something else), or the runner's own error document.
GOOD, WRONG_OUTPUT, LOAD_ERROR = "good", "wrong output", "load error"

_RUNNER = '''#!{python}
"""edgebench-runner's stand-in ({mode}): its report, computed with the host NCNN binding."""
import argparse, json, sys
import ncnn
import numpy as np
from edgebench.ncnn_tools.seeded_input import seeded_input

parser = argparse.ArgumentParser()
for option in ("--param", "--bin", "--shape", "--input-blob", "--output-blob", "--seed", "--threads", "--powersave",
               "--warmup", "--loops", "--min-time-ms", "--fp16", "--bf16", "--packing", "--cpus"):
    parser.add_argument(option)
parser.add_argument("--output-values", action="store_true")
parser.add_argument("--json", action="store_true")
a = parser.parse_args()
if {mode!r} == {load_error!r}:
    print(json.dumps({{"schema": {schema!r}, "error": {{"kind": "load", "message": "cannot load " + a.param}}}}))
    sys.exit(1)
fp16 = a.fp16 == "on"
net = ncnn.Net()
for key in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic"):
    setattr(net.opt, key, fp16)
net.opt.use_bf16_storage = a.bf16 == "on"
net.opt.use_packing_layout = a.packing == "on"
net.opt.num_threads = 1
assert net.load_param(a.param) == 0 and net.load_model(a.bin) == 0
shape = [int(d) for d in a.shape.split(",")]
x = np.ascontiguousarray(seeded_input(tuple(shape), int(a.seed)))
ex = net.create_extractor()
ex.input(a.input_blob, ncnn.Mat(x))
_, out = ex.extract(a.output_blob)
values = np.array(out, dtype=np.float32).ravel() * {sign}
loops = int(a.loops)
for i in range(loops):
    print(f"edgebench-progress: timed {{i + 1}} {{loops}}", file=sys.stderr)
print(json.dumps({{
    "schema": {schema!r}, "ncnn_version": ncnn.__version__,
    "build": {{"arch": "aarch64", "compiler": "host", "flags": "", "openmp": False, "profile": False,
              "markers": "none"}},
    "settings": {{"param": a.param, "bin": a.bin, "shape": shape, "input": None, "seed": int(a.seed),
                 "input_blob": a.input_blob, "output_blob": a.output_blob, "threads": int(a.threads),
                 "powersave": int(a.powersave), "cpus": None, "warmup": int(a.warmup), "loops": loops,
                 "min_time_ms": float(a.min_time_ms), "fp16_packed": fp16, "fp16_storage": fp16,
                 "fp16_arithmetic": fp16, "bf16_storage": a.bf16 == "on", "packing_layout": a.packing == "on",
                 "output_values": a.output_values}},
    "timed_region": "extract", "load_ms": {{"param": 0.1, "model": 0.1}}, "first_inference_ms": 1.0,
    "samples_ms": [1.0 + 0.01 * i for i in range(loops)], "peak_rss_kb": 1024,
    "output": {{"blob": a.output_blob, "shape": [int(values.size)],
               "checksum": {{"sum": float(values.sum()), "abs_sum": float(abs(values).sum()),
                            "l2": float((values ** 2).sum() ** 0.5)}},
               "values": [float(v) for v in values]}},
    "cpu": {{"count": 2, "big": 0, "little": 0, "physical": 2, "l2_cache_bytes": 262144, "l3_cache_bytes": 0,
            "a53_a55": False, "isa": ["asimd"]}},
    "cpus_used": [0, 1], "layers": None}}))
'''


class FakeRuntimes:
    """Runtimes whose runner is the stand-in script; a board that is timed needs no plugin."""

    def __init__(self, folder: Path, mode: str = GOOD):
        folder.mkdir(parents=True, exist_ok=True)
        self.script = folder / "edgebench-runner"
        self.script.write_text(_RUNNER.format(python=sys.executable, mode=mode, schema=SCHEMA, load_error=LOAD_ERROR,
                                                  sign=-1.0 if mode == WRONG_OUTPUT else 1.0))
        self.script.chmod(0o755)
        self.key = sha256_file(self.script)

    def runner(self, arch: str) -> Runtime:
        return Runtime(arch=arch, key=self.key, runner=self.script, ncnn_prefix=self.script.parent,
                       ncnn_version="host binding", compiler="python", toolchain_flags="", cmake_options=(),
                       kept_layers=(), build_seconds=0.0, built_utc="2026-01-01T00:00:00+00:00")

    def profiler(self, arch: str) -> Runtime:
        raise AssertionError("the fake board's tests do not profile")

    def plugin(self, emulator: str) -> Path:
        raise AssertionError("a timed board builds no counting plugin")


_PARAM = """7767517
3 3
Input in0 0 1 in0 0=8 1=8 2=3
Convolution conv 1 1 in0 c0 0=4 1=3 4=1 5=1 6=108 9=1
Pooling pool 1 1 c0 out0 0=1 4=1
"""


def tiny_artifact(root: Path, name: str, seed: int = 0) -> Path:
    """An artifact folder (manifest with sha256s) holding a 3x3 convolution + ReLU + global pooling."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.param").write_text(_PARAM)
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(108 + 4).astype(np.float32)  # convolution weights (fp32 tag 0), then bias
    (folder / "model.bin").write_bytes(struct.pack("<I", 0) + weights.tobytes())
    (folder / "model.onnx").write_bytes(b"not needed: the board runs the .param/.bin")
    manifest = ArtifactManifest(
        name=name, source=f"test:{name}", onnx_input=TensorInfo("x", [1, 3, 8, 8]),
        onnx_output=TensorInfo("y", [1, 4]), ncnn_input=TensorInfo("in0", [3, 8, 8]),
        ncnn_output=TensorInfo("out0", [4]), macs=3 * 3 * 3 * 4 * 64, params=112, converter="hand-written",
        ncnn_options={}, parity=[], files={f: sha256_file(folder / f) for f in ("model.onnx", "model.param",
                                                                                  "model.bin")},
        tools={}, created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    manifest.save(folder)
    return folder
