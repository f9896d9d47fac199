"""`edgebench reproduce fd-mobilenet`: the paper's latency table, end to end, in one resumable command."""

from __future__ import annotations

from pathlib import Path

import click

from edgebench.cli import main
from edgebench.cli.options import ARTIFACTS_OPTION, DEVICES_OPTION
from edgebench.cli.stored_runs import STORE_OPTION
from edgebench.console import err, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.studies import fd_mobilenet

# A study: the models it runs (a zoo suite and extras); its runs carry the tag "reproduce STUDY" in the store
# (how an interrupted one is found).
STUDIES = {"fd-mobilenet": (fd_mobilenet.SUITE, fd_mobilenet.EXTRA_MODELS)}


@main.command("reproduce")
@click.argument("study", type=click.Choice(sorted(STUDIES)))
@click.option("--device", "device_name", default="imx6", show_default=True,
              help="An emulated board (imx6, rpi3-32, rpi4, imx7: latency modeled from exact counts for its CPU and clock) "
                   "or a real board of yours from devices.yaml (measured).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where report.md, results.json and latency_vs_mflops.png go (default: reproduce-STUDY-DEVICE).")
@click.option("--loops", type=click.IntRange(min=1), help="Timed iterations (default: the device's runner.loops).")
@click.option("--warmup", type=click.IntRange(min=0), help="Warm-up iterations (default: the device's).")
@click.option("--fresh", is_flag=True, help="Start a new run instead of continuing this study's last one.")
@ARTIFACTS_OPTION
@DEVICES_OPTION
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print results.json on stdout instead of the tables.")
def reproduce_cmd(study, device_name, out_dir, loops, warmup, fresh, artifacts_root, devices_file, store_path,
                  as_json):
    """Reproduce a paper's latency claims: export, build, run, count, model, report.

    For fd-mobilenet: the FD-MobileNet paper's Table 4 (i.MX6, one Cortex-A9 at 800 MHz, NCNN) says
    FD-MobileNet is ~1.1x faster than MobileNet and 1.33x / 1.47x / 1.82x faster than ShuffleNet at
    140 / 40 / 12 MFLOPs. This runs the nine models (and EffNet) and prints the paper's speedups beside
    ours. Every stage skips what is cached or done: an interrupted reproduce continues where it stopped.

    The paper's board is the i.MX6 (`--device imx6`, the default); another modeled emulated board (rpi3-32,
    rpi4, imx7) asks whether its speedups hold on that CPU; a real board gives measured times.

    \b
    Examples:
      edgebench reproduce fd-mobilenet
      edgebench reproduce fd-mobilenet --device rpi3-32 --out a53-table   # modeled Cortex-A53
      edgebench reproduce fd-mobilenet --device my-imx6    # a real board: devices.yaml's my-imx6 example
    """
    from edgebench.boards.devices import get_device
    from edgebench.models.registry import suite
    from edgebench.modeling.latency_model import constants_for
    from edgebench.report.breakdown import breakdown_markdown
    from edgebench.report.markdown import to_markdown
    from edgebench.report.model import build_report
    from edgebench.report.plot import plot_latency
    from edgebench.report.table import render_table
    from edgebench.report.tabular import to_json
    from edgebench.results.result import Status
    from edgebench.bench.session import RunRequest
    from edgebench.cli.running import failed_models, run_with_progress, timed_settings
    from edgebench.results.store import Store

    device = get_device(device_name, devices_file)
    suite_name, extra = STUDIES[study]
    models = tuple(suite(suite_name)) + extra
    tag = f"reproduce {study}"
    settings = timed_settings(device.runner, loops=loops, warmup=warmup, threads=1)
    out_dir = out_dir or Path(f"reproduce-{study}-{device.name}")

    with Store(store_path) as store:
        previous = None if fresh else next((r for r in store.runs(device=device.name) if r.notes == tag), None)
        resume = previous.id if previous is not None else None
        request = RunRequest(device=device, models=models, settings=settings, artifacts_root=artifacts_root,
                             resume_run=resume, notes=tag, breakdown=True)

        def show(result) -> None:
            mark = "[green]✓[/green]" if result.status == Status.OK else "[red]✗[/red]"
            err.print(f"{mark} {result.model}" + (f": {result.error}" if result.error else ""))

        run_id = run_with_progress(request, store, show)
        run, results = store.run(run_id), store.results(run_id)

    # Modeled figures are made again from the stored counts with the installed constants (a resumed run's
    # earlier models included), so every figure and verdict of this report comes from one latency model.
    report = build_report(run, results, paper=True)
    if as_json:
        click.echo(to_json(report), nl=False)
    else:
        console = stdout_console()
        render_table(report, console, wide=not console.is_terminal)
    out_dir.mkdir(parents=True, exist_ok=True)
    constants = constants_for(device, report.constants)
    (out_dir / "report.md").write_text(
        f"Made by `edgebench reproduce {study} --device {device.name}` (run {run_id}).\n\n" + to_markdown(report)
        + "\n" + breakdown_markdown(results, constants))
    (out_dir / "results.json").write_text(to_json(report))
    plot_latency(report, out_dir / "latency_vs_mflops.png")
    err.print(f"wrote {out_dir}/report.md, results.json, latency_vs_mflops.png (run {run_id})")
    failed = failed_models(results)
    if failed:
        raise EdgebenchError(f"{len(failed)} model(s) failed: {', '.join(failed)}; the table marks them",
                             hint=f"fix and rerun `edgebench reproduce {study} --device {device.name}` to continue")
