"""torch module -> ONNX, with the settings that give one self-contained, static-shape file."""

from __future__ import annotations

import io
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
import torch

from edgebench.errors import EdgebenchError

from edgebench.export import OPSET
INPUT_NAME = "input"
OUTPUT_NAME = "output"
LOG_NAME = "torch-onnx.log"  # in the artifact folder while exporting; kept with <name>.failed/ on failure

# torch's message when another opset would do: "... Support for this operator was added in version 16, ..."
_ADDED_IN = re.compile(r"added in version (\d+)")


def export_onnx(module: torch.nn.Module, input_shape: tuple[int, ...], path: Path | None = None, *,
                opset: int = OPSET, log: Path | None = None) -> onnx.ModelProto:
    """Trace `module` at a fixed input shape and return (and optionally write) the ONNX model; what torch
    prints natively (its TorchScript IR on a failure) goes to `log` instead of the terminal.

    The legacy TorchScript exporter (`dynamo=False`) is used on purpose: torch 2.13's dynamo exporter needs
    onnxscript, ignores the requested opset and writes weights to a side `.onnx.data` file that a renamed
    file loses (pnnx then silently produces NaN weights).
    """
    module = module.eval()
    dummy = torch.zeros(*input_shape)
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings(), _native_stderr_to(log):
            warnings.simplefilter("ignore")  # TorchScript tracer chatter; the graph is verified below
            torch.onnx.export(module, (dummy,), buf, opset_version=opset, dynamo=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True)
    except Exception as exc:  # torch raises many unrelated types here; the user needs the message, not a trace
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        works = _ADDED_IN.search(str(exc))
        hint = f"torch can export it from opset {works.group(1)}: pass --opset {works.group(1)}" if works else None
        raise EdgebenchError(f"torch.onnx.export (opset {opset}) failed: {message}", hint) from exc
    model = onnx.load_from_string(buf.getvalue())
    if path is not None:
        Path(path).write_bytes(buf.getvalue())
    return model


@contextmanager
def _native_stderr_to(log: Path | None) -> Iterator[None]:
    """torch's exporter turns its own ONNX log on (torch 2.13 tests the function `_jit_is_onnx_log_enabled`,
    not its value) and, on any failure, writes the whole TorchScript IR there: to C++'s buffered std::cout,
    flushed at exit, by default. The log is pointed at unbuffered std::cerr and file descriptor 2 at `log`
    meanwhile; Python's sys.stderr, when it is that descriptor (progress bars, click), stays on the terminal
    through a duplicate."""
    if log is None:
        yield
        return
    torch._C._jit_set_onnx_log_output_stream("stderr")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(2)
    python_on_fd2 = _fileno(sys.stderr) == 2
    original = sys.stderr
    try:
        with open(log, "wb") as f:
            os.dup2(f.fileno(), 2)
        if python_on_fd2:
            sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=original.encoding,
                                   errors=original.errors)
        yield
    finally:
        if python_on_fd2:
            sys.stderr.close()
            sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # pytest's and click's captures have none
        return None
