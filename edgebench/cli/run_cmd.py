"""`edgebench run`: export, build, deploy over SSH and run on a board (real or emulated)."""

from __future__ import annotations

import sys

import click

from edgebench.cli import main
from edgebench.cli.options import ARTIFACTS_OPTION, DEVICES_OPTION
from edgebench.cli.stored_runs import STORE_OPTION
from edgebench.console import err, model_progress, print_json, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.result import RunResult, RunSettings
from edgebench.serde import to_dict


@main.command("run")
@click.option("--device", "device_name", default="imx6", show_default=True,
              help="A device from devices.yaml (`edgebench devices` lists them); emulated ones start on demand.")
@click.option("--model", "models", multiple=True,
              help="Zoo name (exported on demand) or artifact folder; repeatable. Default: fd_mobilenet.")
@click.option("--suite", help="Run a whole suite, e.g. 'paper' (the FD-MobileNet latency table's nine models).")
@click.option("--loops", type=click.IntRange(min=1), help="Timed iterations (default: the device's runner.loops).")
@click.option("--warmup", type=click.IntRange(min=0), help="Untimed warm-up iterations (default: the device's).")
@click.option("--threads", type=click.IntRange(min=1), help="NCNN threads (default: the device's runner.threads).")
@click.option("--min-time-ms", type=click.FloatRange(min=0), default=0.0, help="Keep looping until this much time has passed.")
@click.option("--powersave", type=click.IntRange(0, 2), default=0, show_default=True,
              help="NCNN CPU set: 0 all cores, 1 little, 2 big.")
@click.option("--fp16/--no-fp16", default=True, show_default=True,
              help="NCNN's fp16 storage/packing/arithmetic (its defaults); parity is checked with the same setting.")
@click.option("--counters/--no-counters", default=True, show_default=True,
              help="On emulated targets, count instructions and cache misses per iteration (QEMU plugin).")
@click.option("--resume", is_flag=False, flag_value="latest", default=None, metavar="[RUN_ID]",
              help="Continue a run (default: the latest on this device), skipping the models it finished.")
@click.option("--no-wait", is_flag=True, help="Refuse at once when another run holds the board instead of waiting.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="Seconds per model on the board (waiting for the board's lock does not count).")
@ARTIFACTS_OPTION
@DEVICES_OPTION
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print every RunResult as JSON on stdout.")
def run_cmd(device_name, models, suite, loops, warmup, threads, min_time_ms, powersave, fp16, counters, resume,
            no_wait, timeout_s, artifacts_root, devices_file, store_path, as_json):
    """Run models on a device and store every timed iteration with the board's state.

    On a fresh machine this needs nothing else: it exports the models, cross-builds NCNN and the runner
    for the device's CPU, starts an emulated target when needed, deploys over SSH (only changed files)
    and runs. On emulated targets the wall time is QEMU's, not the board's: the exact per-iteration
    counters are what to compare.

    \b
    Examples:
      edgebench run --device imx6
      edgebench run --device imx6 --model fd_mobilenet_0.5x
      edgebench run --device imx6 --suite paper --loops 20
      edgebench run --device my-pi4 --model shufflenet_v1_g3_1.0x --threads 4
      edgebench run --device imx6 --suite paper --resume
    """
    from edgebench.devices import get_device
    from edgebench.run import RunRequest, Session
    from edgebench.store import Store

    device = get_device(device_name, devices_file)
    names = list(models)
    if suite:
        from edgebench.models.registry import suite as suite_models

        names += suite_models(suite)
    names = list(dict.fromkeys(names or ["fd_mobilenet"]))
    defaults = device.runner
    settings = RunSettings(threads=threads or defaults.threads, warmup=defaults.warmup if warmup is None else warmup,
                           loops=loops or defaults.loops, min_time_ms=min_time_ms, powersave=powersave,
                           fp16_packed=fp16, fp16_storage=fp16, fp16_arithmetic=fp16)
    if counters and device.emulated and settings.threads > 1:
        raise EdgebenchError("the counters need one guest thread (with threads the counts are not repeatable)",
                             hint="pass --threads 1, or --no-counters")

    with Store(store_path) as store:
        run_id = None
        if resume == "latest":
            latest = store.latest_run(device.name)
            if latest is None:
                raise EdgebenchError(f"nothing to resume: no run stored for {device.name}")
            run_id = latest.id
        elif resume:
            run_id = store.run(resume).id
        request = RunRequest(device=device, models=tuple(names), settings=settings, artifacts_root=artifacts_root,
                             count=counters, wait_for_lock=not no_wait, timeout_s=timeout_s, resume_run=run_id)
        finished: list[RunResult] = []

        def show(result: RunResult) -> None:
            finished.append(result)
            if result.status == "ok":
                med = sorted(result.samples_ms)[len(result.samples_ms) // 2]
                parts = [f"median {med:.1f} ms" + (" (emulated wall time)" if result.board.emulated else "")]
                if result.counters:
                    parts.append(f"{result.counters[-1].instructions / 1e6:.1f} M instructions/iteration")
                if result.modeled_ms is not None:
                    parts.append(f"modeled {result.modeled_ms:.1f} ms on {device.cpu} @ {device.clock_mhz} MHz")
                err.print(f"[green]✓[/green] {result.model}: " + ", ".join(parts))
            else:
                err.print(f"[red]✗ {result.model}: {result.error}[/red]")

        with model_progress(len(names)) as (stage, model_done):
            session = Session(request, store, sys.argv[:], on_stage=stage)
            run_id, _ = session.execute(lambda result: (show(result), model_done()))
        results = store.results(run_id)
        run = store.run(run_id)

    if as_json:
        print_json([to_dict(r) for r in results])
    elif results:
        from edgebench.report.model import build_report
        from edgebench.report.table import render_table

        render_table(build_report(run, results), stdout_console())
    err.print(f"run {run_id} stored; `edgebench report {run_id}` shows it again")
    failed = [r.model for r in results if r.status != "ok"]
    if failed:
        raise EdgebenchError(f"{len(failed)} model(s) failed: {', '.join(failed)}",
                             hint=f"finished results are stored; fix and `edgebench run --device {device.name} --resume`")
