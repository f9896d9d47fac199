"""Which NCNN layers the runtime is built with; the rest are switched off to cut the build time by half or more.

A switched-off layer still links, but a .param naming it fails to load, and a kept layer that creates it
internally crashes at run time, so the keep-list is derived, not guessed:
- every layer type in NCNN's own benchmark models (ncnn_tools/reference_models/*.param);
- what pnnx emits for the zoo's CNN classifiers (conv, depthwise, pooling, fully connected, channel shuffle,
  concat, add, batch norm, ReLU/LeakyReLU, flatten/reshape/permute, mean, softmax);
- the closure of `create_layer*(LayerType::X)` calls in NCNN's core (Mat helpers, int8 path) and in the
  kept layers' own sources (fused activations). tests/test_runtime_layers.py re-derives this closure
  from the sdist and fails if a needed layer is missing here.
"""

from __future__ import annotations

import re
from pathlib import Path

# Layer types in NCNN's benchmark params (mobilenet*, shufflenet*, squeezenet*, mnasnet, efficientnet_b0,
# proxylessnasnet, regnety_400m, blazeface, *_int8).
BENCHMARK_LAYERS = (
    "BinaryOp", "Concat", "Convolution", "ConvolutionDepthWise", "Eltwise", "HardSigmoid", "HardSwish",
    "InnerProduct", "Input", "Padding", "Pooling", "ReLU", "Reshape", "ShuffleChannel", "Slice", "Softmax",
    "Split", "Swish",
)

# What CNN classifiers bring on top (pnnx/onnx2ncnn output for the zoo; unfused BN; flatten/view/transpose;
# Reduction is a global average pool written as x.mean((2, 3))).
CLASSIFIER_LAYERS = ("BatchNorm", "Clip", "Dropout", "Flatten", "Noop", "Permute", "Reduction", "Sigmoid")

# Created by NCNN itself: Mat helpers (padding, packing, cast, crop, interp, scale/bias), the int8 path
# (quantize/dequantize/requantize; a trimmed build without them segfaults on mobilenet_int8.param) and
# fused activations inside convolution/innerproduct (ReLU, Clip, Sigmoid, Mish, HardSwish).
INTERNAL_LAYERS = (
    "Bias", "Cast", "Clip", "Crop", "Dequantize", "Flatten", "HardSwish", "Interp", "Mish", "Packing", "Padding",
    "Quantize", "ReLU", "Requantize", "Scale", "Sigmoid",
)

KEPT_LAYERS: tuple[str, ...] = tuple(sorted(set(BENCHMARK_LAYERS) | set(CLASSIFIER_LAYERS) | set(INTERNAL_LAYERS)))

_ADD_LAYER = re.compile(r"^\s*ncnn_add_layer\((\w+)", re.MULTILINE)


def all_layers(source_root: Path) -> list[str]:
    """Every layer NCNN's src/CMakeLists.txt declares, in its order."""
    return _ADD_LAYER.findall((source_root / "src" / "CMakeLists.txt").read_text())


def layer_options(source_root: Path, kept: tuple[str, ...] = KEPT_LAYERS) -> list[str]:
    """-DWITH_LAYER_<name>=ON|OFF for every declared layer (NCNN's option names are lower-case)."""
    declared = all_layers(source_root)
    unknown = sorted(set(kept) - set(declared))
    if unknown:  # a renamed layer upstream would otherwise be silently dropped
        raise ValueError(f"kept layers not declared by this NCNN: {unknown}")
    return [f"-DWITH_LAYER_{name.lower()}={'ON' if name in kept else 'OFF'}" for name in declared]
