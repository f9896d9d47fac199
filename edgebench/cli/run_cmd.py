"""`edgebench run`: export, build, deploy over SSH and run on a board (real or emulated)."""

from __future__ import annotations

import shlex

import click
from click.core import ParameterSource
from rich.markup import escape

from edgebench.cli import main
from edgebench.cli.options import ARTIFACTS_OPTION, COORDINATOR_OPTION, DEVICES_OPTION, selected_models
from edgebench.cli.stored_runs import STORE_OPTION
from edgebench.console import err, print_json, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.results.result import RunResult, RunSettings, Status
from edgebench.results.stats import median
from edgebench.results.store import RunInfo, Store
from edgebench.serde import to_dict

# What a run was asked to measure: a bare `--resume` takes each of these from the run's own command line
# unless it is given again now, so it finishes exactly that request.
RESUMED_OPTIONS = ("device_name", "models", "suite", "loops", "warmup", "threads", "min_time_ms", "powersave",
                   "cpus", "fp16", "counters", "per_layer", "timeout_s", "parallel")


def parse_cpus(text: str | None) -> list[int] | None:
    """--cpus "0,2" -> [0, 2]: CPU numbers as the board's kernel numbers them, each once."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",")]
    if not all(item.isdigit() for item in items):
        raise EdgebenchError(f"--cpus takes CPU numbers separated by commas, e.g. 0,2; got {text!r}")
    cpus = [int(item) for item in items]
    if len(set(cpus)) != len(cpus):
        raise EdgebenchError(f"--cpus names a CPU twice: {text!r}")
    return cpus


def check_affinity(device, settings: RunSettings, counting: bool) -> None:
    """Refuse, in one line and before anything is built or sent, threads/cores `device` cannot run as asked."""
    from edgebench.boards.board import board_for

    if settings.cpus is not None and settings.powersave != 0:
        raise EdgebenchError("--cpus and --powersave 1|2 both choose the cores", hint="pass one of them")
    if settings.cpus is not None and not board_for(device).pins_cpus:
        raise EdgebenchError(f"--cpus pins host threads under qemu-user: it says nothing about {device.name}'s "
                             "cores", hint="affinity is for real boards; leave --cpus out here")
    if settings.cpus is not None and max(settings.cpus) >= device.cores:
        raise EdgebenchError(f"--cpus {max(settings.cpus)}: {device.name} has {device.cores} core(s), "
                             f"0-{device.cores - 1}", hint=f"its cores: {device.source}")
    if counting and (settings.threads > 1 or settings.powersave != 0):
        what = f"--threads {settings.threads}" if settings.threads > 1 else f"--powersave {settings.powersave}"
        raise EdgebenchError(f"the counters need one guest thread; {what} would run more (counts would not repeat)",
                             hint="pass --threads 1 and --powersave 0, or --no-counters")


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
              help="benchncnn's CPU set: 0 all cores, 1 little, 2 big (by max frequency); on a board whose cores "
                   "are all alike 1 selects none and is refused.")
@click.option("--cpus", help="Pin to these CPUs (real boards), e.g. 0,2; instead of --powersave.")
@click.option("--fp16/--no-fp16", default=True, show_default=True,
              help="NCNN's fp16 storage/packing/arithmetic (its defaults); parity is checked with the same setting.")
@click.option("--counters/--no-counters", default=True, show_default=True,
              help="On emulated targets, count instructions and cache misses per iteration (QEMU plugin).")
@click.option("--per-layer", is_flag=True,
              help="Per-layer times: each model runs again under NCNN's profiling build (its overhead is shown); "
                   "counted emulated runs give the modeled share per layer type instead.")
@click.option("--resume", is_flag=False, flag_value="latest", default=None, metavar="[RUN_ID]",
              help="Continue a run (default: the latest on this device), skipping the models it finished; what it "
                   "was asked to run (device, models, suite, loops, ...) comes from that run unless given again.")
@click.option("--no-wait", is_flag=True, help="Refuse at once when another run holds the board (on a labgrid device: "
                                              "every matching place) instead of waiting.")
@click.option("--parallel", is_flag=True,
              help="A labgrid device whose entry matches places by tags: spread the models over every matching "
                   "place at once, one run; the smallest model runs on each, for the spread between them.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="Seconds per model on the board (waiting for the board's lock does not count).")
@ARTIFACTS_OPTION
@DEVICES_OPTION
@COORDINATOR_OPTION
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print every RunResult as JSON on stdout.")
@click.pass_context
def run_cmd(ctx: click.Context, device_name, models, suite, loops, warmup, threads, min_time_ms, powersave, cpus,
            fp16, counters, per_layer, resume, no_wait, parallel, timeout_s, artifacts_root, devices_file, coordinator,
            store_path, as_json):
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
      edgebench run --device rpi4 --model fd_mobilenet_0.25x --threads 4 --no-counters
      edgebench run --device imx6 --model fd_mobilenet_0.25x --per-layer
      edgebench run --device rpi3 --model fd_mobilenet_0.25x --per-layer --no-counters
      edgebench run --device imx6 --suite paper --resume

    On a real board, --threads N, --powersave 0|1|2 or --cpus 0,2 choose the cores, and the board state
    records each used CPU's frequency and governor before and after.

    A labgrid device (devices.yaml `labgrid: {place: NAME}` or `{tags: {board: rpi4}}`) is acquired from its
    coordinator for the run, waiting in labgrid's queue while it is in use, and released when the run ends.
    With --parallel, a run on a tags entry takes every matching place that is free and spreads the models over
    them, into one run (a board lost mid-run leaves its models to the others).
    """
    from edgebench.bench.session import RunRequest
    from edgebench.bench.spread import spread_board
    from edgebench.boards.board import board_for
    from edgebench.boards.devices import get_device, with_coordinator
    from edgebench.cli.running import failed_models, run_with_progress, timed_settings

    if not resume:  # a mistyped --device is named before a store file is created for it
        get_device(device_name, devices_file)
    # Then the store: a damaged, foreign or read-only one is refused before any board is touched.
    with Store(store_path) as store:
        resumed = None
        if resume:
            resumed = store.latest_run(device_name) if resume == "latest" else store.run(resume)
            if resumed is None:
                raise EdgebenchError(f"nothing to resume: no run with results stored for {device_name}")
        asked = {**ctx.params, **(_asked(ctx, resumed) if resumed else {})}
        device = with_coordinator(get_device(asked["device_name"], devices_file), coordinator)
        names = selected_models(asked["models"], asked["suite"]) or ["fd_mobilenet"]
        fp16 = asked["fp16"]
        settings = timed_settings(device.runner, loops=asked["loops"], warmup=asked["warmup"], threads=asked["threads"],
                                  min_time_ms=asked["min_time_ms"], powersave=asked["powersave"],
                                  cpus=parse_cpus(asked["cpus"]), fp16_packed=fp16, fp16_storage=fp16,
                                  fp16_arithmetic=fp16)
        board = board_for(device)
        if asked["parallel"]:
            spread_board(device, wait=not no_wait)  # a device with no places to spread over, refused now
        counting = asked["counters"] and board.counts
        check_affinity(device, settings, counting)
        if counting and device.cores > 1:  # said once, before anything is built or sent
            err.print(f"{device.name}: counting with 1 thread of its {device.cores} cores (exact counts need one "
                      "guest thread; --no-counters runs --threads N)")
        request = RunRequest(device=device, models=tuple(names), settings=settings, artifacts_root=artifacts_root,
                             count=asked["counters"], wait_for_lock=not no_wait, timeout_s=asked["timeout_s"],
                             resume_run=resumed.id if resumed else None, breakdown=asked["per_layer"] and counting,
                             per_layer=asked["per_layer"] and not counting)

        def show(result: RunResult) -> None:
            on = f" on {result.board_name}" if result.board_name else ""
            if result.status == Status.OK:
                med = median(result.samples_ms)
                parts = []
                if result.modeled is not None:  # on an emulated board the figure that means something: first
                    m = result.modeled
                    span = (f" ({m.level:.0%}: {m.low_ms:.1f}–{m.high_ms:.1f})" if m.low_ms is not None
                            else " (no interval)")
                    parts.append(f"modeled {m.ms:.1f} ms{span} on {m.cpu} @ {m.clock_mhz:g} MHz")
                if result.counters:
                    parts.append(f"{result.counters[-1].instructions / 1e6:.1f} M instructions/iteration")
                parts.append(f"QEMU wall time {med:.1f} ms" if result.board.emulated else f"median {med:.1f} ms")
                err.print(f"[green]✓[/green] {result.model}{on}: " + ", ".join(parts))
                if result.layer_profile is not None:
                    p = result.layer_profile
                    err.print(f"  per-layer profile: {len(p.layers)} layers, profiled median {p.profiled_ms:.1f} ms "
                              f"vs {p.unprofiled_ms:.1f} ms unprofiled (overhead {p.overhead:+.1%})")
            else:
                err.print(f"[red]✗ {result.model}{on}: {escape(result.error or '')}[/red]")

        run_id = run_with_progress(request, store, show,
                                   lambda exc, run_id: _ended_early(exc, store, run_id, device.name, len(names)),
                                   parallel=asked["parallel"])
        results = store.results(run_id)
        run = store.run(run_id)

    if as_json:
        print_json([to_dict(r) for r in results])
    elif results:
        from edgebench.report.model import build_report
        from edgebench.report.table import render_table

        render_table(build_report(run, results), stdout_console())
    err.print(f"run {run_id} stored; `edgebench report {run_id}` shows it again")
    failed = failed_models(results)
    if failed:
        raise EdgebenchError(f"{len(failed)} model(s) failed: {', '.join(failed)}",
                             hint=f"finished results are stored; fix and `edgebench run --device {device.name} --resume {run_id}`")


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def _asked(ctx: click.Context, run: RunInfo) -> dict:
    """The RESUMED_OPTIONS not given now, as `run` was started with them: its stored command line, read back by
    this very command."""
    argv = run.argv
    if len(argv) < 2 or argv[1] != "run":
        if not (_given(ctx, "models") or _given(ctx, "suite")):
            raise EdgebenchError(f"run {run.id} was started by `{shlex.join(argv) or '?'}`, not `edgebench run`, "
                                 "so what it was asked to run is not known here", hint="name its models with --model or --suite")
        return {}
    original = run_cmd.make_context("run", list(argv[2:]), resilient_parsing=True)
    return {k: original.params[k] for k in RESUMED_OPTIONS if not _given(ctx, k)}


def _ended_early(exc: EdgebenchError, store: Store, run_id: str | None, device: str, total: int) -> EdgebenchError:
    """The run stopped (board lost, disk full, ...): say what it kept and how to finish it, in one line + hint."""
    # By model: a spread run stores its anchor once per board.
    kept = {r.model for r in store.results(run_id) if r.status == Status.OK} if run_id else set()
    if not kept:
        return EdgebenchError(f"{exc.message} (nothing was stored)", exc.hint)
    resume = (f"`edgebench run --device {device} --resume {run_id}` runs the other {total - len(kept)} "
              f"(the {len(kept)} finished are kept)")
    return EdgebenchError(f"{exc.message} (run {run_id}: {len(kept)} of {total} model(s) stored)",
                          f"{exc.hint}; {resume}" if exc.hint else resume)
