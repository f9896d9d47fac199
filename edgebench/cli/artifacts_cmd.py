"""`edgebench artifacts`: what `edgebench export` (and `run`, exporting on demand) left in an artifacts folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from edgebench.cli import main
from edgebench.cli.options import ARTIFACTS_OPTION
from edgebench.console import err, print_json, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.export.manifest import FAILED_NOTE, FAILED_SUFFIX, MANIFEST_NAME, ArtifactManifest, load_manifest
from edgebench.display import MACS_HEADER, MACS_NOTE
from edgebench.report.layout import Column, Row, print_table
from edgebench.serde import to_dict


@dataclass(frozen=True)
class ArtifactRow:
    name: str
    folder: str
    status: str  # "ok", "changed: <why>" (a file differs from its manifest), "failed: <error>" (<name>.failed/)
    manifest: ArtifactManifest | None  # None for a failed export that stopped before its manifest


def scan(root: Path) -> list[ArtifactRow]:
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        failed = folder.name.endswith(FAILED_SUFFIX)
        has_manifest = (folder / MANIFEST_NAME).is_file()
        if not failed and not has_manifest:
            continue  # not ours
        manifest, status = None, "ok"
        if has_manifest:
            try:
                manifest = load_manifest(folder, verify=not failed)
            except EdgebenchError as exc:
                manifest, status = load_manifest(folder, verify=False), f"changed: {exc.message}"
        if failed:
            note = folder / FAILED_NOTE
            status = "failed: " + (note.read_text(errors="replace").strip().splitlines() or ["?"])[0] \
                if note.is_file() else "failed"
        rows.append(ArtifactRow(folder.name.removesuffix(FAILED_SUFFIX) if failed else folder.name, str(folder),
                                status, manifest))
    return rows


_COLUMNS = (Column("name"), Column(MACS_HEADER, numeric=True), Column("params M", numeric=True),
            Column("worst cosine", 2, numeric=True), Column("worst SQNR dB", 3, numeric=True),
            Column("parity"), Column("source", 1), Column("created (UTC)", 4))


def _cells(r: ArtifactRow) -> tuple[str, ...]:
    m = r.manifest
    if m is None:
        return (r.name, "–", "–", "–", "–", "–", "–", "–")
    passed = all(p.passed for p in m.parity)
    return (r.name, f"{m.macs / 1e6:.1f}", f"{m.params / 1e6:.2f}", f"{min(p.cosine for p in m.parity):.6f}",
            f"{min(p.sqnr_db for p in m.parity):.1f}", f"{len(m.parity)} arrows " + ("pass" if passed else "FAIL"),
            m.source, m.created_utc.replace("+00:00", ""))


@main.command("artifacts")
@ARTIFACTS_OPTION
@click.option("--wide", is_flag=True, help="Every column, however wide (default: the columns that fit the terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print every manifest as JSON on stdout.")
def artifacts_cmd(artifacts_root: Path, wide: bool, as_json: bool) -> None:
    """List exported artifacts: MACs, params, parity at every arrow and where each came from (zoo name,
    module:callable factory, ONNX file); failed exports (<name>.failed/) with their error.

    `edgebench models` lists the zoo; this lists what is exported, yours included.

    \b
    Examples:
      edgebench artifacts
      edgebench artifacts --artifacts my-exports --json
    """
    if not artifacts_root.is_dir():
        raise EdgebenchError(f"no artifacts folder {artifacts_root}",
                             hint="export a model first (`edgebench export fd_mobilenet`) or pass --artifacts")
    rows = scan(artifacts_root)
    if as_json:
        print_json([{"name": r.name, "folder": r.folder, "status": r.status,
                     "manifest": to_dict(r.manifest) if r.manifest else None} for r in rows])
        return
    if not rows:
        err.print(f"no artifacts in {artifacts_root}; export one with `edgebench export MODEL`")
        return
    console = stdout_console()
    table_rows = [Row(_cells(r), () if r.status == "ok" else (r.status,),
                      style="red" if r.status != "ok" else None) for r in rows]
    print_table(console, _COLUMNS, table_rows, title=f"Artifacts in {artifacts_root}",
                notes=[MACS_NOTE, "parity: torch -> ONNX -> simplified ONNX -> NCNN fp32, and NCNN with its fp16 "
                                  "defaults as timed; worst cosine / SQNR over those arrows."],
                wide=wide or not console.is_terminal)
