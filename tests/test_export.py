"""Export: source resolution, converter selection, error paths, and whole exports of small user models."""

import json
import stat
from pathlib import Path

import onnx
import pytest
import torch
from click.testing import CliRunner

from edgebench.cli import main
from edgebench.errors import EdgebenchError
from edgebench.export.convert import failure_cause, find_converter
from edgebench.export.manifest import load_manifest
from edgebench.export.source import parse_shape, resolve_source
from edgebench.export.to_onnx import export_onnx

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _factories_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(DATA))


def cli(*args, cwd=None):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_onnx2ncnn_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgebenchError, match="onnx2ncnn is not on PATH") as info:
        find_converter("onnx2ncnn")
    assert "pnnx" in info.value.hint


def test_onnx2ncnn_is_taken_from_path_when_present(monkeypatch, tmp_path):
    # Selection logic only: no onnx2ncnn exists in any registry, so this checks that a user's binary on PATH
    # is the one chosen, not that it converts anything.
    exe = tmp_path / "onnx2ncnn"
    exe.write_text("#!/bin/sh\nexit 1\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_converter("onnx2ncnn") == exe


def test_pnnx_comes_from_the_wheel(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_converter("pnnx").is_file()


@pytest.mark.parametrize("text", ["1,3,224", "2,3,224,224", "a,b,c,d", "1,3,0,224"])
def test_bad_shapes_are_refused(text):
    with pytest.raises(EdgebenchError, match="bad input shape"):
        parse_shape(text)


@pytest.mark.parametrize("target,message", [
    ("no_such_module_xyz:build", "cannot import 'no_such_module_xyz'"),
    ("tiny_factories:missing", "has no callable 'missing'"),
])
def test_factory_resolution_errors(target, message):
    with pytest.raises(EdgebenchError, match=message):
        resolve_source(target, (1, 3, 32, 32))


@pytest.mark.parametrize("target,message", [
    ("tiny_factories:not_a_module", "returned int, not a torch.nn.Module"),
    ("tiny_factories:raises", "raised RuntimeError: factory exploded"),
])
def test_factory_call_errors_reach_the_cli_as_one_line(target, message, tmp_path):
    r = cli("export", target, "--input-shape", "1,3,32,32", "--out", str(tmp_path))
    assert r.exit_code == 2
    assert message in r.stderr and "Traceback" not in r.output


def test_factory_needs_input_shape(tmp_path):
    r = cli("export", "tiny_factories:small_cnn", "--out", str(tmp_path))
    assert r.exit_code == 2 and "needs --input-shape" in r.stderr


def test_unloadable_onnx_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00not a protobuf at all" * 10)
    r = cli("export", str(bad), "--out", str(tmp_path / "a"))
    assert r.exit_code == 2 and "not a loadable ONNX file" in r.stderr


def _dynamic_batch_onnx(path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 4))
    model = export_onnx(net, (1, 3, 32, 32))
    for dim in (model.graph.input[0].type.tensor_type.shape.dim[0], model.graph.input[0].type.tensor_type.shape.dim[2]):
        dim.dim_param = "dyn"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "dyn"
    onnx.save(model, str(path))


def test_dynamic_onnx_without_input_shape_is_refused(tmp_path):
    src = tmp_path / "dyn.onnx"
    _dynamic_batch_onnx(src)
    r = cli("export", str(src), "--out", str(tmp_path / "a"))
    assert r.exit_code == 2 and "dynamic shape" in r.stderr and "--input-shape" in r.stderr


@pytest.mark.slow
def test_dynamic_onnx_exports_with_input_shape(tmp_path):
    src = tmp_path / "dyn.onnx"
    _dynamic_batch_onnx(src)
    r = cli("export", str(src), "--input-shape", "1,3,32,32", "--out", str(tmp_path / "a"), "--json")
    assert r.exit_code == 0, r.stderr
    [doc] = json.loads(r.stdout)
    assert doc["onnx_input"]["shape"] == [1, 3, 32, 32] and doc["source"].startswith("onnx:")
    assert all(p["passed"] for p in doc["parity"])


@pytest.mark.slow
def test_factory_export_end_to_end(tmp_path):
    out = tmp_path / "art"
    r = cli("export", "tiny_factories:small_cnn", "--input-shape", "1,3,32,32", "--name", "mynet", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    folder = out / "mynet"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.bin", "model.onnx", "model.param"]
    m = load_manifest(folder)  # verifies every file's sha256
    assert m.ncnn_input.name == "in0" and m.ncnn_output.shape == [10]
    # conv 3->16 3x3 @32x32, dw 16 3x3 @16x16, pw 16->24 @16x16, fc 24->10
    assert m.macs == 3 * 16 * 9 * 32 * 32 + 16 * 9 * 16 * 16 + 16 * 24 * 16 * 16 + 24 * 10
    stages = {p.stage: p for p in m.parity}
    assert len(stages) == 4 and all(p.passed for p in stages.values())
    assert stages["simplified ONNX -> NCNN (fp32)"].max_abs < 1e-4
    assert {"torch", "onnx", "onnxsim", "pnnx", "ncnn", "onnxruntime"} <= set(m.tools)
    # pnnx's side files stay in its scratch folder
    assert not list(out.glob("*.pnnx*")) and not list(folder.glob("*pnnx*"))

    [listed] = json.loads(cli("artifacts", "--artifacts", str(out), "--json").stdout)
    assert (listed["status"], listed["manifest"]["macs"], listed["manifest"]["source"]) == (
        "ok", m.macs, "factory:tiny_factories:small_cnn")
    table = cli("artifacts", "--artifacts", str(out)).stdout
    assert "mynet" in table and f"{m.macs / 1e6:.1f}" in table and "4 arrows pass" in table

    again = cli("export", "tiny_factories:small_cnn", "--input-shape", "1,3,32,32", "--name", "mynet", "--out", str(out))
    assert again.exit_code == 2 and "already exists" in again.stderr and "--force" in again.stderr
    forced = cli("export", "tiny_factories:small_cnn", "--input-shape", "1,3,32,32", "--name", "mynet", "--out",
                 str(out), "--force")
    assert forced.exit_code == 0


@pytest.mark.slow
def test_changed_artifact_file_is_refused(tmp_path):
    r = cli("export", "tiny_factories:small_cnn", "--input-shape", "1,3,32,32", "--out", str(tmp_path))
    assert r.exit_code == 0, r.stderr
    folder = tmp_path / "small_cnn"
    with open(folder / "model.bin", "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff\xff\xff")
    with pytest.raises(EdgebenchError, match="changed since export"):
        load_manifest(folder)


@pytest.mark.slow
def test_op_ncnn_cannot_take_is_named(tmp_path):
    r = cli("export", "tiny_factories:argmax_net", "--input-shape", "1,3,8,8", "--out", str(tmp_path))
    assert r.exit_code == 2
    assert "NCNN cannot load: Tensor.to" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "argmax_net").exists()  # a failed conversion never looks like an artifact


@pytest.mark.slow
def test_converter_crash_names_the_node_and_keeps_its_files(tmp_path):
    r = cli("export", "tiny_factories:topk_net", "--input-shape", "1,3,8,8", "--out", str(tmp_path))
    assert r.exit_code == 2 and "Traceback" not in r.output
    # the log's last line names the node onnxruntime refused inside pnnx; the message says it
    assert "pnnx was killed by SIGSEGV at node TopK_1 (op TopK): has output size 1 not in range" in r.stderr
    failed = tmp_path / "topk_net.failed"
    assert sorted(p.name for p in failed.iterdir()) == ["error.txt", "model.onnx", "pnnx.log"]
    assert f"its log: {failed / 'pnnx.log'}" in r.stderr
    assert "TopK_1" in (failed / "error.txt").read_text()
    listed = json.loads(cli("artifacts", "--artifacts", str(tmp_path), "--json").stdout)
    assert [(a["name"], a["status"][:36], a["manifest"]) for a in listed] == [
        ("topk_net", "failed: pnnx was killed by SIGSEGV a", None)]


def test_failure_cause_from_a_converter_log(tmp_path):
    log = tmp_path / "pnnx.log"
    log.write_text("fold_constants ...  0.00ms\nshape_inference ... \x1b[0;93mwarning\x1b[m\nort CreateSession failed "
                   'This is an invalid model. In Node, ("TopK_1", TopK, "", -1) : ("pnnx_0": tensor(float),) -> '
                   '("out0",) , Error Node(TopK_1) with schema(::TopK:11) has output size 1 not in range [min=2, max=2].\n')
    assert failure_cause(log) == "node TopK_1 (op TopK): has output size 1 not in range [min=2, max=2]"
    log.write_text("pass_level2 ...\nsome other complaint\n\n")
    assert failure_cause(log) == "some other complaint"
    log.write_text("")
    assert failure_cause(log) is None


def test_an_op_that_needs_another_opset_says_which_and_keeps_torch_out_of_the_terminal(tmp_path, capfd):
    r = cli("export", "tiny_factories:grid_sample_net", "--input-shape", "1,3,8,8", "--out", str(tmp_path))
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "torch.onnx.export (opset 13) failed: UnsupportedOperatorError" in r.stderr
    assert "pass --opset 16" in r.stderr
    native = capfd.readouterr()  # what torch wrote past Python, on file descriptors 1 and 2
    assert "Torch IR graph" not in native.err + native.out + r.output
    failed = tmp_path / "grid_sample_net.failed"
    assert "Torch IR graph at exception" in (failed / "torch-onnx.log").read_text()
    assert "pass --opset 16" in (failed / "error.txt").read_text()
    listed = json.loads(cli("artifacts", "--artifacts", str(tmp_path), "--json").stdout)
    assert listed[0]["name"] == "grid_sample_net" and listed[0]["status"].startswith("failed: torch.onnx.export")


@pytest.mark.slow
def test_opset_is_passed_to_torch(tmp_path):
    args = ("export", "tiny_factories:grid_sample_net", "--input-shape", "1,3,8,8", "--out", str(tmp_path))
    assert cli(*args).exit_code == 2 and (tmp_path / "grid_sample_net.failed" / "error.txt").is_file()
    r = cli(*args, "--opset", "16")
    assert r.exit_code == 0, r.stderr
    assert onnx.load(str(tmp_path / "grid_sample_net" / "model.onnx")).opset_import[0].version == 16
    assert not (tmp_path / "grid_sample_net.failed").exists()  # the earlier failure's folder goes with success


# -- names and --force never reach outside the artifact folder (issue 15, row 1) --------------------------------

def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("name", ["..", ".", "../x", "/abs", "a/b", "good.failed"])
def test_a_name_that_leaves_the_output_folder_is_refused_before_anything_is_touched(tmp_path, name):
    """`edgebench export good.onnx --out parent/out --name .. --force` once deleted all of parent/."""
    parent = tmp_path / "parent"
    (parent / "out" / "keep").mkdir(parents=True)
    (parent / "thesis.tex").write_text("years of work")
    (parent / "out" / "keep" / "data.bin").write_bytes(b"\x00" * 10)
    good = parent / "good.onnx"
    _dynamic_batch_onnx(good)
    before = _tree(tmp_path)
    r = cli("export", str(good), "--input-shape", "1,3,32,32", "--out", str(parent / "out"), "--name", name, "--force")
    assert r.exit_code == 2 and "is not a plain folder name" in r.stderr and "Traceback" not in r.output
    assert _tree(tmp_path) == before


def test_force_never_replaces_a_folder_that_is_not_an_artifact(tmp_path):
    out = tmp_path / "out"
    (out / "mine").mkdir(parents=True)
    (out / "mine" / "notes.txt").write_text("not an artifact")
    good = tmp_path / "good.onnx"
    _dynamic_batch_onnx(good)
    r = cli("export", str(good), "--input-shape", "1,3,32,32", "--out", str(out), "--name", "mine", "--force")
    assert r.exit_code == 2 and "is not an artifact folder" in r.stderr and "Traceback" not in r.output
    assert (out / "mine" / "notes.txt").read_text() == "not an artifact"
    assert sorted(p.name for p in out.iterdir()) == ["mine"]  # no staging folder left either
