"""Run one input through torch, onnxruntime or the host NCNN binding, returning a float32 array.

These are the references every parity figure is measured against (export time and, later, against what the
boards compute). torch, onnx and onnxruntime are imported by the functions that use them: checking a board's
output against host NCNN needs none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgebench.errors import EdgebenchError

if TYPE_CHECKING:
    import onnx
    import torch


def run_torch(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module.eval()(torch.from_numpy(x)).numpy().astype(np.float32)


def run_onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: x})[0], dtype=np.float32)


def ncnn_options(fp16: bool) -> dict[str, bool]:
    """NCNN's precision switches: fp16=True are its defaults (the settings usually timed)."""
    return {"use_fp16_packed": fp16, "use_fp16_storage": fp16, "use_fp16_arithmetic": fp16,
            "use_bf16_storage": False, "use_packing_layout": True}


def run_ncnn(param: Path, weights: Path, input_blob: str, output_blob: str, x: np.ndarray,
             fp16: bool = False) -> np.ndarray:
    """One inference with the host NCNN binding; `x` is NCHW with batch 1 (the runner's seeded input for parity)."""
    import ncnn

    net = ncnn.Net()
    # Options must be set before load_param: set afterwards they give garbage without any error.
    for key, value in ncnn_options(fp16).items():
        setattr(net.opt, key, value)
    net.opt.num_threads = 1
    if net.load_param(str(param)) != 0:
        raise EdgebenchError(f"NCNN could not load {param}")
    if net.load_model(str(weights)) != 0:
        raise EdgebenchError(f"NCNN could not load the weights {weights}")
    # ncnn.Mat wraps the buffer without copying and trusts its layout: contiguous float32 CHW, kept alive.
    chw = np.ascontiguousarray(x[0], dtype=np.float32)
    ex = net.create_extractor()
    ex.input(input_blob, ncnn.Mat(chw))
    ret, out = ex.extract(output_blob)
    if ret != 0:
        raise EdgebenchError(f"NCNN failed to compute blob '{output_blob}' (status {ret})")
    result = np.array(out, dtype=np.float32, copy=True)
    del ex, net, chw
    return result
