"""`edgebench export`: models to NCNN artifacts."""

from __future__ import annotations

from pathlib import Path

import click
from edgebench.cli import main
from edgebench.cli.options import selected_models
from edgebench.console import err, print_json, progress, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.export import OPSET
from edgebench.export.convert import CONVERTERS
from edgebench.export.manifest import ArtifactManifest
from edgebench.display import MACS_HEADER, MACS_NOTE
from edgebench.report.layout import Column, Row, print_table
from edgebench.serde import to_dict


@main.command("export")
@click.argument("targets", nargs=-1)
@click.option("--suite", help="Export a whole suite, e.g. 'paper' (the FD-MobileNet latency table's nine models).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("artifacts"),
              show_default=True, help="Folder that receives one artifact folder per model.")
@click.option("--converter", type=click.Choice(CONVERTERS), default="pnnx", show_default=True,
              help="pnnx (pip wheel; NCNN's replacement for onnx2ncnn) or a legacy onnx2ncnn on PATH.")
@click.option("--input-shape", help="N,C,H,W for a factory or a dynamic-shape ONNX file, e.g. 1,3,160,160.")
@click.option("--name", help="Artifact name for a factory or ONNX file (default: the callable's / file's name).")
@click.option("--opset", type=click.IntRange(7, 21), default=OPSET, show_default=True,
              help="ONNX opset torch exports (factories and the zoo); when an op needs a newer one, the error says "
                   "which.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights (zoo) and the parity input.")
@click.option("--force", is_flag=True, help="Replace artifact folders that already exist.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests as JSON on stdout.")
def export_cmd(targets, suite, out_dir, converter, input_shape, name, opset, seed, force, as_json):
    """Export models: PyTorch -> ONNX -> onnxsim -> NCNN, with parity checked at every arrow.

    TARGETS are zoo names (a bare family name picks its default variant), `module:callable` factories
    returning a torch.nn.Module, or ONNX files. Each lands in OUT/<name>/ with model.onnx, model.param,
    model.bin and manifest.json; a failed one in OUT/<name>.failed/ with what it got to, the failing
    tool's log and error.txt. `edgebench artifacts` lists what OUT holds.

    \b
    Examples:
      edgebench export fd_mobilenet
      edgebench export --suite paper
      edgebench export my_pkg.nets:build_net --input-shape 1,3,160,160 --name mynet
      edgebench export my_pkg.nets:build_net --input-shape 1,3,64,64 --opset 16
      edgebench export path/to/model.onnx
    """
    # Imported here, the pipeline only once every name resolved: torch, onnx and onnxruntime take seconds to
    # import, and other commands (or a misspelt name) do not need them all.
    from edgebench.export.source import parse_shape, resolve_source

    names = selected_models(targets, suite)
    if not names:
        raise EdgebenchError("nothing to export", hint="name a model (see `edgebench models`) or pass --suite paper")
    if (input_shape or name) and len(names) > 1:
        raise EdgebenchError("--input-shape and --name apply to a single target")
    shape = parse_shape(input_shape) if input_shape else None
    sources = [resolve_source(t, shape, name, seed) for t in names]  # resolve all first: fail before any work
    from edgebench.export.pipeline import export_artifact

    done: list[tuple[ArtifactManifest, Path]] = []
    failures: list[tuple[str, EdgebenchError]] = []
    with progress() as bar:
        task = bar.add_task("export", total=len(sources))
        for src in sources:
            stage = lambda s, n=src.name: bar.update(task, description=f"{n}: {s}")  # noqa: E731
            try:
                done.append(export_artifact(src, out_dir, converter, force, seed, on_stage=stage, opset=opset))
            except EdgebenchError as exc:
                if len(sources) == 1:
                    raise
                failures.append((src.name, exc))
                err.print(f"[red]{src.name}: {exc.message}[/red]" + (f"\n  hint: {exc.hint}" if exc.hint else ""))
            bar.advance(task)
        bar.update(task, description="export")

    if as_json:
        print_json([{**to_dict(m), "folder": str(folder)} for m, folder in done])
    elif done:
        _print_table(done)
    if failures:
        raise EdgebenchError(f"{len(failures)} of {len(sources)} exports failed: {', '.join(n for n, _ in failures)}")


def _print_table(done: list[tuple[ArtifactManifest, Path]]) -> None:
    folders = sorted({str(folder.parent) for _, folder in done})
    columns = (Column("model"), Column(MACS_HEADER, numeric=True), Column("paper MFLOPs", 1, numeric=True),
               Column("params M", numeric=True), Column("worst cosine", 2, numeric=True),
               Column("worst SQNR dB", 2, numeric=True))
    rows = [Row((m.name, f"{m.macs / 1e6:.1f}", f"{m.paper_mflops:g}" if m.paper_mflops else "–",
                 f"{m.params / 1e6:.2f}", f"{min(p.cosine for p in m.parity):.6f}",
                 f"{min(p.sqnr_db for p in m.parity):.1f}")) for m, _ in done]
    console = stdout_console()
    print_table(console, columns, rows, title=f"Exported artifacts in {', '.join(folders)}",
                notes=[MACS_NOTE] if any(m.paper_mflops for m, _ in done) else [],
                wide=not console.is_terminal, wide_hint="`edgebench artifacts --wide` shows every column")
