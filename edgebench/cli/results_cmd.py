"""`edgebench results` and `edgebench report`: what the store holds, and one run laid out for people."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from edgebench.cli import main
from edgebench.cli.stored_runs import FIRST_RUN_HINT, STORE_OPTION, existing_store, load_run
from edgebench.console import err, print_json, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.report.layout import Column, Row, print_table
from edgebench.report.markdown import to_markdown
from edgebench.report.model import build_report
from edgebench.report.paper import has_paper_models
from edgebench.report.rows import BASIS_LABELS
from edgebench.report.table import render_table
from edgebench.report.tabular import paper_to_csv, to_csv, to_json
from edgebench.results.store import default_store_path
from edgebench.serde import to_dict

@main.command("results")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show at most N runs.")
@click.option("--device", help="Only runs on this device.")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout.")
def results_cmd(limit, device, store_path, as_json):
    """List past runs, newest first: id, time, device, models, and how many were measured or modeled.

    \b
    Examples:
      edgebench results
      edgebench results --device imx6 --limit 5
      edgebench results --json
    """
    store = existing_store(store_path)
    runs = []
    if store is not None:
        with store:
            runs = store.runs(limit, device=device)
    if as_json:
        print_json([to_dict(r) for r in runs])
        return
    if not runs:
        where = store_path or default_store_path()
        err.print(f"no runs stored{f' for device {device}' if device else ''} in {where} yet; {FIRST_RUN_HINT}")
        return
    columns = (Column("Run"), Column("Started (UTC)", 1), Column("Device"), Column("Models", numeric=True),
               Column("Ok", 3, numeric=True), Column("Failed", numeric=True), Column("Measured", 2, numeric=True),
               Column("Emulated", 2, numeric=True), Column("Modeled", numeric=True))
    rows = [Row((r.id, r.started, r.device, str(r.models), str(r.ok), str(r.failed) if r.failed else "–",
                 str(r.measured), str(r.emulated), str(r.modeled))) for r in runs]
    console = stdout_console()
    print_table(console, columns, rows, title=f"Runs in {store_path or default_store_path()}",
                notes=["Measured: timed on a real board. Emulated: QEMU wall time. Modeled: predicted from exact "
                       "counts. Show one: edgebench report RUN_ID"],
                wide=not console.is_terminal, wide_hint="a wider terminal shows every column")


@main.command("report")
@click.argument("run_id", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json", "csv"]), default="table",
              show_default=True, help="Terminal table, Markdown (for a PR comment), JSON or CSV.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of stdout.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a PNG: latency vs M MACs per family, the paper's speedups beside ours.")
@click.option("--paper", is_flag=True,
              help="Add the FD-MobileNet paper's Table 4 speedups beside ours (with --format csv: the CSV is that "
                   "comparison instead of the per-model table).")
@click.option("--device", help="Without RUN_ID: the latest run on this device.")
@click.option("--wide", is_flag=True, help="Every column, however wide (default: the columns that fit the terminal).")
@click.option("--verbose", "-v", is_flag=True,
              help="Also the flags about QEMU's wall time on emulated rows (their headline is the modeled figure).")
@STORE_OPTION
def report_cmd(run_id, fmt, as_json, out_file, plot_file, paper, device, wide, verbose, store_path):
    """Report one run (default: the latest): per model the headline latency with its interval and what it is
    of (measured on the board; modeled for the CPU and clock named on an emulated board), MACs, and every
    flag under its row; QEMU's wall time, spread, first inference, load time and peak RSS as the width allows.

    RUN_ID may be any unique start of a run id (see `edgebench results`).

    \b
    Examples:
      edgebench report
      edgebench report --paper --wide
      edgebench report --device imx6 --verbose
      edgebench report --format md --out report.md
      edgebench report --format csv --out latency.csv --plot latency.png
    """
    if as_json:
        fmt = "json"
    if plot_file is not None and plot_file.suffix.lower() != ".png":
        raise EdgebenchError(f"--plot writes a PNG; {plot_file} does not end in .png")
    run, results = load_run(store_path, device, run_id)
    report = build_report(run, results, paper=paper)
    if paper and not has_paper_models(report.rows):
        err.print("[yellow]none of the paper's nine models is in this run: the comparison is empty "
                  "(run `--suite paper`)[/yellow]")

    if fmt == "table":
        if out_file is None:
            console = stdout_console()
            render_table(report, console, wide=wide or not console.is_terminal, verbose=verbose)
        else:  # a file has no width: every column
            with _open_out(out_file) as f:
                render_table(report, Console(file=f, width=200, no_color=True), wide=True, verbose=verbose)
    else:
        text = {"md": lambda r: to_markdown(r, verbose), "json": to_json,
                "csv": paper_to_csv if paper else to_csv}[fmt](report)
        if out_file is None:
            click.echo(text, nl=False)
        else:
            with _open_out(out_file) as f:
                f.write(text)
    if out_file is not None:
        err.print(f"wrote {out_file}")
    if plot_file is not None:
        from edgebench.report.plot import plot_latency  # matplotlib costs a second to import

        plotted = plot_latency(report, plot_file)
        note = ""
        if plotted.left_out:
            note = f"; left out (no MACs or no {plotted.basis} figure): {', '.join(plotted.left_out)}"
        err.print(f"wrote {plot_file}: {BASIS_LABELS[plotted.basis]} of {len(plotted.plotted)} models, "
                  f"{plotted.paper_points} paper points{note}")


def _open_out(path: Path):
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise EdgebenchError(f"cannot write {path}: {exc.strerror}") from exc
