"""Raw ONNX -> static-shape, simplified, checked ONNX."""

from __future__ import annotations

import onnx
import onnxsim

from edgebench.errors import EdgebenchError


def static_shape(value_info: onnx.ValueInfoProto) -> list[int] | None:
    """The tensor's shape if every dimension is a fixed positive number, else None."""
    dims = value_info.type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    return shape if dims and all(s > 0 for s in shape) else None


def single_io(model: onnx.ModelProto) -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    """The one graph input (not an initializer) and the one output; classifiers have exactly one of each."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise EdgebenchError(f"the ONNX graph has {len(inputs)} inputs and {len(model.graph.output)} outputs; "
                             "edgebench handles single-input single-output networks")
    return inputs[0], model.graph.output[0]


def simplify(model: onnx.ModelProto, input_shape: list[int] | None = None) -> onnx.ModelProto:
    """Fix the input shape (required when the graph's is dynamic), run onnxsim, then onnx.checker."""
    inp, _ = single_io(model)
    declared = static_shape(inp)
    if declared is None and input_shape is None:
        dims = [d.dim_param or d.dim_value or "?" for d in inp.type.tensor_type.shape.dim]
        raise EdgebenchError(f"input '{inp.name}' has a dynamic shape {dims}",
                             hint="pass --input-shape, e.g. --input-shape 1,3,224,224")
    if declared is not None and input_shape is not None and list(input_shape) != declared:
        raise EdgebenchError(f"--input-shape {list(input_shape)} does not match the graph's fixed input "
                             f"shape {declared}")
    overwrite = {inp.name: list(input_shape)} if declared is None else None
    try:
        simplified, ok = onnxsim.simplify(model, overwrite_input_shapes=overwrite)
    except Exception as exc:  # onnxsim raises RuntimeError/ValueError/onnx errors alike
        raise EdgebenchError(f"onnxsim failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if not ok:
        raise EdgebenchError("onnxsim's own check of the simplified model failed")
    try:
        onnx.checker.check_model(simplified, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise EdgebenchError(f"onnx.checker rejects the simplified model: {str(exc).splitlines()[0]}") from exc
    _, out = single_io(simplified)
    if static_shape(out) is None:
        raise EdgebenchError(f"output '{out.name}' still has a dynamic shape after simplification")
    return simplified
