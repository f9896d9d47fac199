"""The models of a request as artifacts: an artifact folder used as is (sha256-verified), a zoo name or factory
exported on demand, and where each one's files go on the board."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebench.export.manifest import MANIFEST_NAME, ArtifactManifest, load_manifest

Stage = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    """One model ready to run: its manifest and where its files are here and on the board."""

    manifest: ArtifactManifest
    folder: Path
    remote_dir: str  # relative to the board's workdir


def prepare_artifact(model: str, artifacts_root: Path, on_stage: Stage) -> tuple[ArtifactManifest, Path]:
    """An artifact folder for `model`: used as is when it exists (sha256-verified), else exported now."""
    as_path = Path(model)
    if (as_path / MANIFEST_NAME).is_file():
        return load_manifest(as_path), as_path
    from edgebench.export.pipeline import export_artifact
    from edgebench.export.source import resolve_source

    source = resolve_source(model)
    folder = artifacts_root / source.name
    if (folder / MANIFEST_NAME).is_file():
        return load_manifest(folder), folder
    return export_artifact(source, artifacts_root, on_stage=lambda s: on_stage(f"{source.name}: {s}"))
