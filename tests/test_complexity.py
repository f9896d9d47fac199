"""MACs and params counted from ONNX graphs: the counter on hand-built graphs, then every zoo variant against
its paper's figure.

Zoo checks export each model to ONNX (about 0.1-2 s each on 2 cores): the models up to ~41 MFLOPs run in the
quick loop, the large ones are marked slow (CI runs them).
"""

from __future__ import annotations

import functools
import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.export.complexity import Complexity, count_complexity, zoo_complexity
from edgebench.export.to_onnx import export_onnx
from edgebench.models.registry import create_model, get_spec, list_models, suite

TOLERANCE = 0.03  # issue 4: within 3 % of the paper's figure
LIGHT = {"mobilenet_v1_0.25x", "mobilenet_v1_0.125x", "fd_mobilenet_0.5x", "fd_mobilenet_0.25x",
         "shufflenet_v1_g3_0.5x", "shufflenet_v1_g3_0.25x", "effnet_cifar10"}


def by_weight(names):
    return [pytest.param(n, marks=() if n in LIGHT else pytest.mark.slow) for n in names]


@functools.cache
def counted(name: str) -> Complexity:
    """Straight through the pipeline's path (no cache): zoo model -> ONNX -> count."""
    return count_complexity(export_onnx(create_model(name), get_spec(name).input_shape))


# --- the counter on graphs whose answer is known by hand -------------------------------------------------------

def _graph(nodes, inputs, outputs, inits, value_info=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits, value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _init(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.zeros(shape, dtype=dtype), name)


def test_conv_kinds_and_formula():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Conv", ["x", "w_full", "b_full"], ["a"], name="full", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Conv", ["a", "w_dw"], ["b"], name="dw", group=24, pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["b", "w_group"], ["c"], name="grouped", group=3),
        helper.make_node("Conv", ["c", "w_pw"], ["d"], name="pw"),
        helper.make_node("Conv", ["d", "w_row"], ["y"], name="row", pads=[0, 1, 0, 1]),
    ]
    inits = [_init("w_full", [24, 12, 3, 3]), _init("b_full", [24]), _init("w_dw", [24, 1, 3, 3]),
             _init("w_group", [30, 8, 1, 1]), _init("w_pw", [6, 30, 1, 1]), _init("w_row", [5, 6, 1, 3])]
    c = count_complexity(_graph(nodes, [x], [y], inits))
    hw = 8 * 8  # stride 2, pad 1: ceil(16 / 2)
    expected = {"full": 3 * 3 * 12 * 24 * hw, "dw": 3 * 3 * 1 * 24 * hw, "grouped": 8 * 30 * hw,
                "pw": 30 * 6 * hw, "row": 3 * 6 * 5 * hw}
    assert {l.name: l.macs for l in c.layers} == expected
    assert [l.kind for l in c.layers] == ["conv", "depthwise", "group", "pointwise", "conv"]
    assert c.macs == sum(expected.values())
    assert c.per_op == {"conv": expected["full"] + expected["row"], "depthwise": expected["dw"],
                        "group": expected["grouped"], "pointwise": expected["pw"]}
    assert c.layers[0].output_shape == [1, 24, 8, 8]
    assert c.params == 24 * 12 * 9 + 24 + 24 * 9 + 30 * 8 + 6 * 30 + 5 * 6 * 3


def test_gemm_matmul_count_and_bn_statistics_are_not_params():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("BatchNormalization", ["x", "scale", "shift", "mean", "var"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["f"]),  # int64 shape: not a parameter
        helper.make_node("Gemm", ["f", "w_fc", "b_fc"], ["g"], name="fc", transB=1),
        helper.make_node("MatMul", ["g", "w_mm"], ["y"], name="mm"),
    ]
    inits = [_init("scale", [8]), _init("shift", [8]), _init("mean", [8]), _init("var", [8]),
             numpy_helper.from_array(np.array([1, 128], dtype=np.int64), "shape"),
             _init("w_fc", [10, 128]), _init("b_fc", [10]), _init("w_mm", [10, 3]), _init("unused", [99])]
    c = count_complexity(_graph(nodes, [x], [y], inits))
    assert [(l.name, l.op, l.macs) for l in c.layers] == [("fc", "Gemm", 128 * 10), ("mm", "MatMul", 10 * 3)]
    assert c.per_op == {"fc": 1310}
    assert c.params == 8 + 8 + 10 * 128 + 10 + 10 * 3  # BN scale/shift yes, running stats / ints / unused no


def test_dynamic_shapes_are_refused_with_a_hint():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = _graph([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [x], [y], [_init("w", [4, 3, 1, 1])])
    with pytest.raises(EdgebenchError) as exc:
        count_complexity(model)
    assert "no static shape" in exc.value.message and "--input-shape" in exc.value.hint


# --- every zoo variant against its paper --------------------------------------------------------------------------

WITH_PAPER_MFLOPS = [n for n in list_models() if get_spec(n).paper.mflops is not None]
MATCHING = [n for n in WITH_PAPER_MFLOPS if not get_spec(n).paper.mismatch]
DOCUMENTED_MISMATCH = [n for n in WITH_PAPER_MFLOPS if get_spec(n).paper.mismatch]


def test_only_the_known_exception_is_excused():
    assert DOCUMENTED_MISMATCH == ["shufflenet_v1_g3_0.25x"]
    assert len(MATCHING) == 13  # everything else with a paper figure is held to 3 %


@pytest.mark.parametrize("name", by_weight(MATCHING))
def test_counted_mflops_match_the_paper(name):
    paper = get_spec(name).paper.mflops
    mflops = counted(name).macs / 1e6
    assert abs(mflops / paper - 1) <= TOLERANCE, f"{name}: counted {mflops:.2f} vs paper {paper}"


def test_shufflenet_quarter_width_is_a_documented_exception():
    """Paper 13 MFLOPs; scaling every filter by 0.25 (conv1 6, stages 60/120/240) counts 11.0. Not fudged.

    paper_specs.md puts literal readings of 0.25x at 10.5-12.4. If the model changes so that the paper figure
    is met, or the count leaves that band, this fails and the spec's `mismatch` note must be revisited.
    """
    spec = get_spec("shufflenet_v1_g3_0.25x")
    mflops = counted(spec.name).macs / 1e6
    assert "cannot reach 13" in spec.paper.mismatch and "11.0" in spec.paper.mismatch
    assert 10.5 <= mflops <= 12.4
    assert round(mflops, 1) == 11.0
    assert abs(mflops / spec.paper.mflops - 1) > TOLERANCE  # still a real mismatch, so the note still applies


@pytest.mark.parametrize("name", by_weight(["mobilenet_v1_1.0x", "mobilenet_v1_0.75x", "mobilenet_v1_0.5x",
                                           "mobilenet_v1_0.25x"]))
def test_counted_params_match_mobilenet_table6(name):
    paper = get_spec(name).paper.params_m
    params = counted(name).params / 1e6
    # The paper prints one decimal: 0.25x counts 0.47 M, printed as 0.5.
    assert abs(params / paper - 1) <= TOLERANCE or round(params, 1) == paper, f"{name}: {params:.3f} vs {paper}"


@pytest.mark.slow
def test_mobilenet_cost_shares_match_the_paper():
    """MobileNet v1 §3: 1x1 94.86 %, depthwise 3.06 %, FC 0.18 % of Mult-Adds; first conv printed 1.19 %.

    The four printed shares only sum to 100 with 1.91 % for the first conv, which is what the count gives:
    1.19 is a transposition in the paper.
    """
    c = counted("mobilenet_v1_1.0x")
    share = {kind: round(100 * macs / c.macs, 2) for kind, macs in c.per_op.items()}
    assert share == {"conv": 1.91, "depthwise": 3.06, "pointwise": 94.86, "fc": 0.18}


@pytest.mark.slow
def test_fast_downsampling_moves_cost_out_of_the_large_resolutions():
    """FD-MobileNet §3: at the four largest resolutions (112..14) MobileNet 0.5x spends about 129 MFLOPs and
    FD-MobileNet 1x about 59: checks the layout, not just the total."""

    def large_resolution_mflops(name):
        return sum(l.macs for l in counted(name).layers if l.kind != "fc" and l.output_shape[2] >= 14) / 1e6

    assert round(large_resolution_mflops("mobilenet_v1_0.5x")) == 129
    assert round(large_resolution_mflops("fd_mobilenet_1.0x")) == 59


def test_no_paper_figure_variants_recount_to_the_reference():
    """Not paper figures (paper_specs.md recounts, marked ≈): MobileNet 0.125x 12.09, EffNet about 5.6."""
    assert round(counted("mobilenet_v1_0.125x").macs / 1e6, 2) == 12.09
    effnet = counted("effnet_cifar10")
    assert 5.5 <= effnet.macs / 1e6 <= 5.7
    assert effnet.per_op["fc"] == 4 * 4 * 256 * 10


@pytest.mark.parametrize("name", by_weight(suite("paper")))
def test_paper_suite_members_sit_near_their_budget(name):
    budget = get_spec(name).budget_mflops
    assert abs(counted(name).macs / 1e6 / budget - 1) <= 0.1  # MobileNet 0.5x: 149.5 for the 140 budget


# --- the cache and the CLI ----------------------------------------------------------------------------------------

def test_zoo_complexity_is_cached_by_source(edgebench_dirs, monkeypatch):
    first = zoo_complexity("effnet")
    assert first == counted("effnet_cifar10")
    files = list((edgebench_dirs / "cache" / "complexity").glob("effnet_cifar10-*.json"))
    assert len(files) == 1

    import edgebench.models.registry as registry

    def no_export(*args, **kwargs):
        raise AssertionError("a cached count must not rebuild the model")

    with monkeypatch.context() as patch:
        patch.setattr(registry, "create_model", no_export)
        assert zoo_complexity("effnet_cifar10") == first
    files[0].write_text("{not json")  # a damaged entry is recounted, not trusted
    assert zoo_complexity("effnet_cifar10") == first
    assert json.loads(files[0].read_text())["macs"] == first.macs


def test_models_command_json(edgebench_dirs):
    result = CliRunner().invoke(main, ["models", "effnet", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["spec"]["name"] == "effnet_cifar10" and row["default_for"] == "effnet"
    assert row["macs"] == counted("effnet_cifar10").macs
    assert row["mflops_delta_pct"] is None and row["matches_paper"] is None


def test_models_command_table_marks_default_and_documented_mismatch(edgebench_dirs):
    result = CliRunner().invoke(main, ["models", "shufflenet_v1_g3_0.25x"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (row,) = [l for l in lines if l.lstrip().startswith("shufflenet_v1_g3_0.25x")]
    assert "11.0" in row and "-15.3!" in row and "★" not in row
    assert any("cannot reach 13" in l for l in lines)
    assert "documented mismatch" in result.stderr
    result = CliRunner().invoke(main, ["models", "effnet"])
    assert result.exit_code == 0, result.output
    (row,) = [l for l in result.stdout.splitlines() if l.lstrip().startswith("effnet_cifar10")]
    assert "effnet ★" in row and "5.6" in row
    assert "effnet → effnet_cifar10" in result.stdout


def test_models_command_errors(edgebench_dirs):
    runner = CliRunner()
    result = runner.invoke(main, ["models", "fd_mobilnet_0.5x"])
    assert result.exit_code == 2
    assert "unknown model 'fd_mobilnet_0.5x'" in result.stderr and "fd_mobilenet_0.5x" in result.stderr
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["models", "--suite", "nope"])
    assert result.exit_code == 2 and "unknown suite 'nope'" in result.stderr
    result = runner.invoke(main, ["models", "effnet", "--suite", "paper"])
    assert result.exit_code == 2 and "not in suite 'paper'" in result.stderr
