"""One export: source -> ONNX -> simplified ONNX -> NCNN, parity at every arrow, an artifact folder.

The artifact is assembled in a staging folder and renamed into place only when every parity check passed, so
a half-written or failed export never looks like a usable artifact. A failed one is kept under
`<name>.failed/` for inspection: what it got to (ONNX, manifest), the failing tool's log and error.txt.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import ncnn
import numpy as np
import onnx
import onnxruntime
import torch

from edgebench.errors import EdgebenchError
from edgebench.export import host_inference as hi
from edgebench.export import OPSET
from edgebench.export.convert import Conversion, ConverterError, convert
from edgebench.export.manifest import FAILED_NOTE, FAILED_SUFFIX, MANIFEST_NAME, ArtifactManifest, Parity, TensorInfo
from edgebench.export.parity import AS_TIMED, TIGHT, compare
from edgebench.export.simplify import simplify, single_io, static_shape
from edgebench.export.source import ExportSource, load_onnx
from edgebench.export.to_onnx import LOG_NAME as TORCH_LOG
from edgebench.export.to_onnx import export_onnx
from edgebench.hashing import sha256_file
from edgebench.ncnn_tools.seeded_input import seeded_input

ARTIFACT_FILES = ("model.onnx", "model.param", "model.bin")
_FAILED_MARKERS = (MANIFEST_NAME, FAILED_NOTE)  # a failed export that got as far as parity has its manifest


class ParityError(EdgebenchError):
    """Raised when an arrow's outputs disagree past its limit; carries the figures."""

    def __init__(self, message: str, parity: list[Parity]):
        super().__init__(message)
        self.parity = parity


def tool_versions() -> dict[str, str]:
    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "onnxsim": importlib.metadata.version("onnxsim"), "pnnx": importlib.metadata.version("pnnx"),
            "ncnn": ncnn.__version__}


def export_artifact(source: ExportSource, out_root: Path, converter: str = "pnnx", force: bool = False,
                    seed: int = 0, on_stage: Callable[[str], None] = lambda s: None,
                    opset: int = OPSET) -> tuple[ArtifactManifest, Path]:
    out_root = Path(out_root)
    final = out_root / source.name
    failed = out_root / f"{source.name}{FAILED_SUFFIX}"
    if final.exists() and not force:
        raise EdgebenchError(f"{final} already exists", hint="pass --force to replace it")
    for old, markers in ((final, (MANIFEST_NAME,)), (failed, _FAILED_MARKERS)):
        _refuse_non_artifact(old, markers)  # --force replaces artifacts, never a folder that is something else
    out_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.name}.", dir=out_root))
    try:
        manifest = _build(source, staging, converter, seed, on_stage, opset, failed)
    except EdgebenchError as exc:
        if not any(staging.iterdir()):  # failed before writing anything (a factory that raised): nothing to keep
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (staging / FAILED_NOTE).write_text(f"{exc}\n")
        _replace(staging, failed, _FAILED_MARKERS)
        if str(failed) not in (exc.hint or ""):
            kept = f"files kept in {failed}"
            exc.hint = f"{exc.hint}; {kept}" if exc.hint else kept
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _replace(staging, final, (MANIFEST_NAME,))
    shutil.rmtree(failed, ignore_errors=True)
    return manifest, final


def _refuse_non_artifact(path: Path, markers: tuple[str, ...]) -> None:
    if path.is_symlink() or (path.exists() and not any((path / m).is_file() for m in markers)):
        raise EdgebenchError(f"{path} exists and is not an artifact folder (no {' or '.join(markers)}); refusing "
                             "to replace it", hint="pick another --name or --out, or move that folder aside")


def _replace(src: Path, dst: Path, markers: tuple[str, ...]) -> None:
    """Put `src` at `dst`; an artifact already there is renamed aside first and removed only after."""
    if not dst.exists():
        src.rename(dst)
        return
    _refuse_non_artifact(dst, markers)
    aside = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", dir=dst.parent))
    dst.rename(aside / dst.name)
    src.rename(dst)
    shutil.rmtree(aside)


def _build(source: ExportSource, folder: Path, converter: str, seed: int, on_stage: Callable[[str], None],
           opset: int, failed: Path) -> ArtifactManifest:
    graph = _to_onnx(source, folder, seed, opset, on_stage)
    conv = _to_ncnn(graph, folder, converter, failed, on_stage)
    on_stage("NCNN parity")
    param, weights = folder / "model.param", folder / "model.bin"
    x = graph.x
    ncnn_fp32 = hi.run_ncnn(param, weights, conv.input_blob, conv.output_blob, x, fp16=False)
    ncnn_fp16 = hi.run_ncnn(param, weights, conv.input_blob, conv.output_blob, x, fp16=True)
    parity = [*graph.parity,
              compare("simplified ONNX -> NCNN (fp32)", graph.ort_simplified, ncnn_fp32, TIGHT),
              compare(f"{graph.reference_name} -> NCNN (fp16 on, as timed)", graph.reference, ncnn_fp16, AS_TIMED)]
    manifest = _manifest(source, folder, graph, conv, list(ncnn_fp32.shape), parity)
    manifest.save(folder)
    failures = [p for p in parity if not p.passed]
    if failures:
        worst = failures[0]
        raise ParityError(
            f"{source.name}: parity failed at '{worst.stage}': cosine {worst.cosine:.6f}, SQNR {worst.sqnr_db:.1f} dB, "
            f"max abs {worst.max_abs:.3g} (limit: {worst.limit})", parity)
    return manifest


@dataclass(frozen=True)
class _Graph:
    """The simplified ONNX written to the artifact, the seeded input and what every arrow so far computed."""

    simplified: onnx.ModelProto
    input: onnx.ValueInfoProto
    output: onnx.ValueInfoProto
    shape: list[int]  # the input's, NCHW
    x: np.ndarray
    reference: np.ndarray  # torch's output, or the ONNX file's own (onnxruntime) for an ONNX source
    reference_name: str
    ort_simplified: np.ndarray
    parity: list[Parity]  # torch -> ONNX (a torch source), ONNX -> simplified ONNX


def _to_onnx(source: ExportSource, folder: Path, seed: int, opset: int, on_stage: Callable[[str], None]) -> _Graph:
    """torch (or the given ONNX) -> simplified ONNX in `folder`, with parity at each arrow on the seeded input."""
    parity: list[Parity] = []
    if source.build is not None:
        on_stage(f"torch -> ONNX (opset {opset})")
        module = source.build()
        x = seeded_input(tuple(source.input_shape), seed)
        reference, ref_name = hi.run_torch(module, x), "torch"
        torch_log = folder / TORCH_LOG
        raw = export_onnx(module, source.input_shape, opset=opset, log=torch_log)
        torch_log.unlink()  # kept only with a failure, for what torch said then
    else:
        on_stage("loading ONNX")
        raw = load_onnx(source.onnx_path)
    on_stage("onnxsim")
    simplified = simplify(raw, list(source.input_shape) if source.input_shape else None)
    inp, out = single_io(simplified)
    shape = static_shape(inp)
    onnx.save(simplified, str(folder / "model.onnx"))
    if source.build is None:
        x = seeded_input(tuple(shape), seed)
    ort_raw = hi.run_onnxruntime(raw, x)
    if source.build is None:
        reference, ref_name = ort_raw, "ONNX"
    else:
        parity.append(compare("torch -> ONNX (onnxruntime)", reference, ort_raw, TIGHT))
    ort_simplified = hi.run_onnxruntime(simplified, x)
    parity.append(compare("ONNX -> simplified ONNX (onnxruntime)", ort_raw, ort_simplified, TIGHT))
    return _Graph(simplified, inp, out, shape, x, reference, ref_name, ort_simplified, parity)


def _to_ncnn(graph: _Graph, folder: Path, converter: str, failed: Path,
             on_stage: Callable[[str], None]) -> Conversion:
    """The converter run in a scratch folder; only model.param and model.bin are kept in the artifact."""
    on_stage(f"{converter} -> NCNN")
    with tempfile.TemporaryDirectory(prefix="edgebench-convert-") as scratch:
        try:
            conv = convert(folder / "model.onnx", graph.input.name, graph.output.name, graph.shape, Path(scratch),
                           converter)
        except ConverterError as exc:
            if exc.evidence.is_file():  # the scratch folder goes: keep what to look at with the rest
                shutil.copyfile(exc.evidence, folder / exc.evidence.name)
                exc.hint = f"{exc.what}: {failed / exc.evidence.name}"
            raise
        shutil.copyfile(conv.param, folder / "model.param")
        shutil.copyfile(conv.bin, folder / "model.bin")
    return conv


def _manifest(source: ExportSource, folder: Path, graph: _Graph, conv: Conversion, ncnn_output_shape: list[int],
              parity: list[Parity]) -> ArtifactManifest:
    from edgebench.export.complexity import count_complexity

    complexity = count_complexity(graph.simplified)
    shape = graph.shape
    return ArtifactManifest(
        name=source.name, source=source.ref,
        onnx_input=TensorInfo(graph.input.name, shape),
        onnx_output=TensorInfo(graph.output.name, static_shape(graph.output)),
        ncnn_input=TensorInfo(conv.input_blob, shape[1:]), ncnn_output=TensorInfo(conv.output_blob, ncnn_output_shape),
        macs=complexity.macs, params=complexity.params, converter=conv.converter,
        ncnn_options=hi.ncnn_options(fp16=True), parity=parity,
        files={f: sha256_file(folder / f) for f in ARTIFACT_FILES},
        tools={**tool_versions(), conv.converter: conv.version},
        created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        spec=source.spec, paper_mflops=source.spec.paper.mflops if source.spec else None,
    )
