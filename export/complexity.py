"""Multiply-adds and parameters counted from an ONNX graph, the way the papers count them.

MACs: one multiply-add is one "FLOP" (MobileNet's "Mult-Adds", ShuffleNet's and FD-MobileNet's "MFLOPs").
Counted for Conv (K_h * K_w * C_in/g * C_out * H_out * W_out), Gemm (M * K * N) and MatMul (output size * K);
BN, activations, pooling, add, concat, reshape/transpose (channel shuffle) count nothing. Biases count nothing.
The graph's own shapes are used (batch included: zoo graphs have batch 1).

Params: elements of the float initializers the graph computes with, i.e. weights and biases. BatchNorm's
running mean/variance are statistics, not parameters, and are left out; integer initializers (shapes,
axes) too. With the legacy exporter a BN right after a conv is folded into that conv's weight and a bias,
so a conv+BN pair counts K_h*K_w*C_in/g*C_out + C_out (the BN's scale and shift would count 2*C_out in
PyTorch's own count); a BN the exporter cannot fold (EffNet's BN after LeakyReLU) counts its scale and shift.
Either way the difference is under 1 % of the papers' "Params" (MobileNet v1: 4.23 M counted vs 4.2 M).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from onnx import shape_inference

from edgebench import paths
from edgebench.atomic import write_atomically
from edgebench.errors import EdgebenchError
from edgebench.serde import from_dict, to_dict

# BatchNormalization inputs 3 and 4 are running statistics, not parameters.
_STATISTICS_INPUTS = {"BatchNormalization": (3, 4)}
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                onnx.TensorProto.BFLOAT16}


@dataclass
class LayerCost:
    """One node that does multiply-adds."""

    name: str
    op: str  # ONNX op type: Conv, Gemm or MatMul
    kind: str  # "conv", "pointwise", "depthwise", "group" (grouped, not depthwise) or "fc"
    macs: int
    output_shape: list[int]


@dataclass
class Complexity:
    macs: int
    params: int
    per_op: dict[str, int]  # MACs by LayerCost.kind, e.g. {"pointwise": ..., "depthwise": ...}
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def mflops(self) -> float:
        """Millions of multiply-adds: the unit the papers call MFLOPs."""
        return self.macs / 1e6


def count_complexity(model: onnx.ModelProto) -> Complexity:
    """Count MACs (Conv/Gemm/MatMul) and parameters of a static-shape ONNX model."""
    try:
        graph = shape_inference.infer_shapes(model, strict_mode=True).graph
    except onnx.shape_inference.InferenceError as exc:
        raise EdgebenchError(f"ONNX shape inference failed: {str(exc).splitlines()[0]}") from exc
    shapes = _static_shapes(graph)
    layers = []
    for node in graph.node:
        counter = _COUNTERS.get(node.op_type)
        if counter is not None:
            layers.append(counter(node, shapes))
    per_op: dict[str, int] = {}
    for layer in layers:
        per_op[layer.kind] = per_op.get(layer.kind, 0) + layer.macs
    return Complexity(macs=sum(l.macs for l in layers), params=_count_params(graph), per_op=per_op, layers=layers)


def _static_shapes(graph: onnx.GraphProto) -> dict[str, list[int]]:
    """Every tensor's shape; an unknown or symbolic dimension on a counted path is an error later."""
    shapes: dict[str, list[int]] = {init.name: list(init.dims) for init in graph.initializer}
    for info in (*graph.input, *graph.value_info, *graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = list(attr.t.dims)
    return shapes


def _shape(shapes: dict[str, list[int]], name: str, node: onnx.NodeProto) -> list[int]:
    shape = shapes.get(name)
    if shape is None or any(d <= 0 for d in shape):
        raise EdgebenchError(f"cannot count {node.op_type} {node.name!r}: tensor {name!r} has no static shape "
                             f"({shape})", hint="export with a fixed input shape (--input-shape 1,3,224,224)")
    return shape


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _conv(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> LayerCost:
    weight = _shape(shapes, node.input[1], node)  # [C_out, C_in/g, K_h, K_w]
    out = _shape(shapes, node.output[0], node)  # [N, C_out, H_out, W_out]
    group = _attr(node, "group", 1)
    c_out, c_in_per_group, *kernel = weight
    macs = math.prod(out) * c_in_per_group * math.prod(kernel)
    if group > 1 and c_in_per_group == 1:
        kind = "depthwise"
    elif group > 1:
        kind = "group"
    elif math.prod(kernel) == 1:
        kind = "pointwise"
    else:
        kind = "conv"
    return LayerCost(node.name, node.op_type, kind, macs, out)


def _gemm(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> LayerCost:
    a = _shape(shapes, node.input[0], node)
    k = a[0] if _attr(node, "transA", 0) else a[1]
    out = _shape(shapes, node.output[0], node)
    return LayerCost(node.name, node.op_type, "fc", math.prod(out) * k, out)


def _matmul(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> LayerCost:
    a = _shape(shapes, node.input[0], node)
    out = _shape(shapes, node.output[0], node)
    return LayerCost(node.name, node.op_type, "fc", math.prod(out) * a[-1], out)


_COUNTERS = {"Conv": _conv, "Gemm": _gemm, "MatMul": _matmul}


def _count_params(graph: onnx.GraphProto) -> int:
    statistics = {node.input[i] for node in graph.node
                  for i in _STATISTICS_INPUTS.get(node.op_type, ()) if i < len(node.input)}
    used = {name for node in graph.node for name in node.input}
    total = 0
    for init in graph.initializer:
        if init.data_type in _FLOAT_TYPES and init.name in used and init.name not in statistics:
            total += math.prod(init.dims)
    for node in graph.node:  # weights the exporter left as Constant nodes count as well
        if node.op_type == "Constant" and node.output[0] in used and node.output[0] not in statistics:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None and value.data_type in _FLOAT_TYPES:
                total += math.prod(value.dims)
    return total


def zoo_complexity(name: str) -> Complexity:
    """Count a zoo variant from its exported ONNX, cached under cache_dir()/complexity.

    The cache key hashes every source file that decides the count (the zoo package, this module, the ONNX
    exporter) and the torch/onnx versions, so an edited model is recounted and an unchanged one costs nothing.
    """
    from edgebench.models.registry import create_model, get_spec, resolve  # torch import only when counting

    name = resolve(name)
    path = paths.cache_dir() / "complexity" / f"{name}-{_source_key()[:16]}.json"
    if path.exists():
        try:
            return from_dict(Complexity, json.loads(path.read_text()))
        except (ValueError, TypeError):
            pass  # damaged or from an older layout: count again and overwrite
    from edgebench.export.to_onnx import export_onnx

    complexity = count_complexity(export_onnx(create_model(name), get_spec(name).input_shape))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(to_dict(complexity)))
    return complexity


def _source_key() -> str:
    import torch

    import edgebench.export.to_onnx as to_onnx
    import edgebench.models as zoo

    h = hashlib.sha256(f"torch {torch.__version__} onnx {onnx.__version__}\n".encode())
    files = sorted(Path(zoo.__file__).parent.glob("*.py")) + [Path(__file__), Path(to_onnx.__file__)]
    for file in files:
        h.update(file.name.encode() + b"\0" + file.read_bytes())
    return h.hexdigest()
