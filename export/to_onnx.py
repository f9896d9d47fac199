"""torch module -> ONNX, with the settings that give one self-contained, static-shape file."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import onnx
import torch

from edgebench.errors import EdgebenchError

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "output"


def export_onnx(module: torch.nn.Module, input_shape: tuple[int, ...], path: Path | None = None) -> onnx.ModelProto:
    """Trace `module` at a fixed input shape and return (and optionally write) the ONNX model.

    The legacy TorchScript exporter (`dynamo=False`) is used on purpose: torch 2.13's dynamo exporter needs
    onnxscript, ignores the requested opset and writes weights to a side `.onnx.data` file that a renamed
    file loses (pnnx then silently produces NaN weights).
    """
    module = module.eval()
    dummy = torch.zeros(*input_shape)
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript tracer chatter; the graph is verified below
            torch.onnx.export(module, (dummy,), buf, opset_version=OPSET, dynamo=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True)
    except Exception as exc:  # torch raises many unrelated types here; the user needs the message, not a trace
        raise EdgebenchError(f"torch.onnx.export failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    model = onnx.load_from_string(buf.getvalue())
    if path is not None:
        Path(path).write_bytes(buf.getvalue())
    return model
