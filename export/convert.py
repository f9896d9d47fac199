"""Simplified ONNX -> NCNN .param/.bin with pnnx (default) or a user's legacy onnx2ncnn binary.

Both run in a scratch folder: pnnx writes half a dozen side files next to its input, and only the
.param/.bin belong in the artifact. Exit status 0 proves nothing (pnnx emits layers NCNN cannot load for ops
it cannot map), so every layer type is checked against NCNN's registry here and parity decides the rest.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import ncnn

from edgebench.errors import EdgebenchError

CONVERTERS = ("pnnx", "onnx2ncnn")


@dataclass(frozen=True)
class Conversion:
    param: Path
    bin: Path
    input_blob: str
    output_blob: str
    log: Path
    converter: str
    version: str


def _pnnx_binary() -> Path:
    try:
        import pnnx  # the wheel ships the converter binary next to its module
    except ImportError as exc:
        raise EdgebenchError("pnnx is not installed", hint="pip install pnnx") from exc
    path = Path(pnnx.EXEC_PATH)
    if not path.is_file():
        raise EdgebenchError(f"the pnnx wheel has no converter binary at {path}", hint="pip install --force-reinstall pnnx")
    return path


def find_converter(name: str) -> Path:
    """The executable for converter `name`, or a clear error saying how to get one."""
    if name == "pnnx":
        return _pnnx_binary()
    if name == "onnx2ncnn":
        found = shutil.which("onnx2ncnn")
        if not found:
            raise EdgebenchError(
                "onnx2ncnn is not on PATH (no package registry ships it: upstream NCNN retired it)",
                hint="use the default --converter pnnx, NCNN's replacement, or put your own onnx2ncnn build on PATH")
        return Path(found)
    raise EdgebenchError(f"unknown converter '{name}'", hint=f"choose one of: {', '.join(CONVERTERS)}")


class ConverterError(EdgebenchError):
    """The converter failed; `evidence` (its log, a .param NCNN cannot load) is what to look at, and what the
    export keeps with `<name>.failed/` (the scratch folder goes)."""

    def __init__(self, message: str, evidence: Path, what: str = "its log"):
        super().__init__(message, hint=f"{what}: {evidence}")
        self.evidence = evidence
        self.what = what


# onnxruntime's words for the node it refused, as pnnx's shape inference passes them on:
# In Node, ("TopK_1", TopK, "", -1) : ... Error Node(TopK_1) with schema(::TopK:11) has output size 1 not in ...
_ORT_NODE = re.compile(r'In Node, \("([^"]*)", (\w+),')
_ORT_WHY = re.compile(r"Error Node\([^)]*\) with schema\([^)]*\) (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_cause(log: Path) -> str | None:
    """What a converter's log says went wrong: the node and op onnxruntime refused, else its last line."""
    try:
        lines = [_ANSI.sub("", ln).strip() for ln in log.read_text(errors="replace").splitlines()]
    except OSError:
        return None
    lines = [ln for ln in lines if ln]
    for line in reversed(lines):
        node = _ORT_NODE.search(line)
        if node:
            why = _ORT_WHY.search(line)
            return (f"node {node.group(1)} (op {node.group(2)}): "
                    f"{why.group(1).rstrip('.') if why else line}")[:300]
    return lines[-1][:300] if lines else None


def _run(argv: list[str], cwd: Path, log: Path, timeout: float) -> None:
    name = Path(argv[0]).name
    with open(log, "wb") as out:
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ConverterError(f"{name} ran past {timeout:.0f} s", log) from exc
    if proc.returncode == 0:
        return
    what = (f"was killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
            else f"failed with exit status {proc.returncode}")
    cause = failure_cause(log)
    raise ConverterError(f"{name} {what}" + (f" at {cause}" if cause and cause.startswith("node ")
                                             else f"; its last words: {cause}" if cause else ""), log)


def unknown_layer_types(param: Path) -> list[str]:
    """Layer types in a .param that this NCNN cannot create (pnnx's leftovers for unmapped ops)."""
    lines = param.read_text().splitlines()
    types = {line.split()[0] for line in lines[2:] if line.strip()}
    return sorted(t for t in types if ncnn.layer_to_index(t) < 0)


def convert(onnx_path: Path, input_name: str, output_name: str, input_shape: list[int], scratch: Path,
            converter: str = "pnnx", timeout: float = 600) -> Conversion:
    """Convert `onnx_path` inside `scratch`; the returned paths point into `scratch`."""
    exe = find_converter(converter)
    scratch.mkdir(parents=True, exist_ok=True)
    src = scratch / "model.onnx"
    shutil.copyfile(onnx_path, src)
    log = scratch / f"{converter}.log"
    if converter == "pnnx":
        shape = ",".join(str(d) for d in input_shape)
        # fp16=0 keeps fp32 weights, so the tight fp32 parity check is possible; fp16 is a runtime switch.
        _run([str(exe), src.name, f"inputshape=[{shape}]", "fp16=0"], scratch, log, timeout)
        param, weights = scratch / "model.ncnn.param", scratch / "model.ncnn.bin"
        in_blob, out_blob = "in0", "out0"
        version = importlib.metadata.version("pnnx")
    else:
        param, weights = scratch / "model.param", scratch / "model.bin"
        _run([str(exe), src.name, param.name, weights.name], scratch, log, timeout)
        in_blob, out_blob = input_name, output_name
        version = "legacy (from PATH)"
    if not param.is_file() or not weights.is_file():
        raise ConverterError(f"{converter} exited 0 but wrote no .param/.bin", log)
    bad = unknown_layer_types(param)
    if bad:
        raise ConverterError(f"{converter} produced layer types NCNN cannot load: {', '.join(bad)} "
                             "(an op NCNN has no layer for)", param, "the converted param")
    return Conversion(param, weights, in_blob, out_blob, log, converter, version)
