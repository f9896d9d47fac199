"""The artifact's manifest.json: the only thing deploy, run and report read about an exported model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.atomic import write_atomically
from edgebench.errors import EdgebenchError
from edgebench.hashing import sha256_file
from edgebench.models.spec import ModelSpec
from edgebench.serde import from_dict, to_dict

MANIFEST_NAME = "manifest.json"
FAILED_SUFFIX = ".failed"  # <name>.failed/: what a failed export got to, the failing tool's log and FAILED_NOTE
FAILED_NOTE = "error.txt"  # the error as the user saw it
SCHEMA = 1


@dataclass
class TensorInfo:
    name: str
    shape: list[int]  # NCHW for ONNX; the same dims for NCNN (batch 1, blob is CHW)


@dataclass
class Parity:
    """One arrow's agreement on the same seeded input."""

    stage: str  # e.g. "torch -> onnxruntime"
    max_abs: float
    cosine: float
    sqnr_db: float
    passed: bool
    limit: str  # the threshold that was applied, in words


@dataclass
class ArtifactManifest:
    name: str
    source: str  # "zoo:<name>", "factory:<module:callable>" or "onnx:<path>"
    onnx_input: TensorInfo
    onnx_output: TensorInfo
    ncnn_input: TensorInfo
    ncnn_output: TensorInfo
    macs: int
    params: int
    converter: str
    ncnn_options: dict[str, bool]  # NCNN switches the timed settings use (parity checked with them)
    parity: list[Parity]
    files: dict[str, str]  # file name -> sha256
    tools: dict[str, str]  # tool -> version
    created_utc: str
    spec: ModelSpec | None = None
    paper_mflops: float | None = None
    schema: int = SCHEMA
    notes: list[str] = field(default_factory=list)

    @property
    def param_file(self) -> str:
        return "model.param"

    @property
    def bin_file(self) -> str:
        return "model.bin"

    @property
    def digest(self) -> str:
        """sha256 over the file hashes: names the artifact's content, whatever folder it sits in."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(f"{name}\0{self.files[name]}\n".encode())
        return h.hexdigest()

    def save(self, folder: Path) -> Path:
        path = Path(folder) / MANIFEST_NAME
        write_atomically(path, json.dumps(to_dict(self), indent=2) + "\n")
        return path



def load_manifest(folder: Path, verify: bool = True) -> ArtifactManifest:
    """Read an artifact folder's manifest; with `verify`, refuse files whose sha256 changed."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise EdgebenchError(f"{folder} is not an edgebench artifact (no {MANIFEST_NAME})",
                             hint="create one with `edgebench export MODEL`")
    try:
        data = json.loads(path.read_text())
        manifest = from_dict(ArtifactManifest, data)
    except (ValueError, TypeError) as exc:
        raise EdgebenchError(f"{path}: not a manifest this edgebench can read: {exc}",
                             hint=f"written by another edgebench version? export it again with `edgebench export "
                                  f"{folder.name} --force`") from None
    if manifest.schema != SCHEMA:
        raise EdgebenchError(f"{path}: manifest schema {manifest.schema}, this edgebench reads {SCHEMA}",
                             hint="re-export the model with `edgebench export --force`")
    if verify:
        for name, digest in manifest.files.items():
            f = folder / name
            if not f.is_file():
                raise EdgebenchError(f"{folder}: {name} is listed in the manifest but missing")
            actual = sha256_file(f)
            if actual != digest:
                raise EdgebenchError(f"{folder}: {name} changed since export (sha256 {actual[:12]}, "
                                     f"manifest {digest[:12]})", hint="re-export with --force")
    return manifest
