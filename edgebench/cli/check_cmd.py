"""`edgebench baseline save` and `edgebench check`: keep a run as the reference, and gate CI on it."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from edgebench.report.check import HEADERS, check_rows, header_lines, mismatch_warning, to_markdown
from edgebench.results.baseline import Baseline, baseline_from_results, load_baseline, save_baseline
from edgebench.results.check import (DEFAULT_MIN_EFFECT_PCT, DEFAULT_TOLERANCE_PCT, CheckReport, CheckSettings,
                                     Outcome, check_run)
from edgebench.cli import main
from edgebench.cli.options import selected_models
from edgebench.cli.stored_runs import STORE_OPTION, load_run
from edgebench.console import err, print_json, stdout_console
from edgebench.errors import EdgebenchError
from edgebench.results.result import RunResult
from edgebench.results.store import RunInfo
from edgebench.serde import to_dict

_SELECT_OPTIONS = (
    click.option("--suite", help="Only the models of this suite (e.g. paper: the FD-MobileNet paper's nine)."),
    click.option("--model", "models", multiple=True, help="Only this model (as stored; repeat for more)."),
)
_RUN_OPTION = click.option("--run", "run_id", help="This run (any unique start of its id) instead of the latest.")


def _select_options(f):
    for option in reversed(_SELECT_OPTIONS):
        f = option(f)
    return f


def _tolerance_option(help_text: str):
    return click.option("--tolerance", "tolerances", multiple=True, metavar="[MODEL=]PCT", help=help_text)


@main.group("baseline")
def baseline_group() -> None:
    """Keep a run's figures as the reference that `edgebench check` compares later runs with.

    \b
    Examples:
      edgebench baseline save baseline.json --device imx6 --suite paper
    """


@baseline_group.command("save")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--device", help="The latest run on this device (default with --run: that run's device).")
@_RUN_OPTION
@_select_options
@_tolerance_option("Store a threshold in percent with the models: MODEL=PCT for one model, a bare PCT for all. "
                   "It overrides the check's default (counter tolerance on emulated targets, minimum effect on "
                   "real boards).")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print what was saved as JSON on stdout.")
def baseline_save_cmd(file, device, run_id, suite, models, tolerances, store_path, as_json):
    """Save a stored run's per-model figures to FILE: identity (device, NCNN version, runtime build), artifact
    sha256, M MACs, every timed sample, per-iteration counters and modeled ms.

    \b
    Examples:
      edgebench baseline save baseline.json --device imx6 --suite paper
      edgebench baseline save baseline.json --run 20261123-1024 --model fd_mobilenet_1.0x
      edgebench baseline save baseline.json --device imx6 --tolerance effnet_cifar10=2
    """
    run, results = _load_run(store_path, device, run_id)
    names = selected_models(models, suite)
    if names:
        results = _pick(results, names, run)
    default, per_model = _parse_tolerances(tolerances)
    if default is not None:
        per_model = {**{r.model: default for r in results}, **per_model}
    baseline = baseline_from_results(run.id, results, tolerances=per_model)
    save_baseline(baseline, file)
    if as_json:
        print_json({"file": str(file), "run_id": run.id, "device": run.device,
                    "models": [m.model for m in baseline.models], "identity": to_dict(baseline.identity)})
        return
    err.print(f"saved {file}: {len(baseline.models)} model(s) of run {run.id} on {run.device} "
              f"({_kinds(baseline)}); NCNN {baseline.identity.ncnn_version}, runtime {baseline.identity.runtime_key}")
    blind = [m.model for m in baseline.models if m.emulated and m.counters is None and m.modeled_ms is None]
    if blind:
        err.print(f"[yellow]warning: {', '.join(blind)} ran emulated without counters or modeled ms; `edgebench "
                  "check` cannot compare them (emulated wall time is not a latency). Run with counting on.[/yellow]")


@main.command("check")
@click.option("--baseline", "baseline_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The baseline file (from `edgebench baseline save`).")
@click.option("--device", help="Check the latest run on this device (default: the baseline's device).")
@_RUN_OPTION
@_select_options
@_tolerance_option("Emulated targets: allowed change of counters and modeled ms, in percent (default 1). "
                   "MODEL=PCT sets one model's threshold (also on real boards, where it is the minimum effect).")
@click.option("--min-effect", type=click.FloatRange(min=0), default=DEFAULT_MIN_EFFECT_PCT, show_default=True,
              metavar="PCT", help="Real boards: smallest median shift, in percent, that may fail the check.")
@click.option("--allow-mismatch", is_flag=True,
              help="Compare even if the baseline comes from another device, NCNN version, runtime build or "
                   "runner settings (a loud warning is printed).")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the check as JSON on stdout.")
def check_cmd(baseline_file, device, run_id, suite, models, tolerances, min_effect, allow_mismatch, store_path,
              as_json):
    """Compare a stored run with a baseline. Exit 0: no regression; 1: a regression (models and figures
    named); 2: could not check (no run, bad baseline, another setup, a model missing or failed).

    Emulated targets compare exact QEMU counts (instructions, memory bytes, L1/L2 misses) and modeled ms
    within a tolerance; real boards need a significant Mann-Whitney U test AND a median shift beyond a
    minimum effect, so noise alone never fails. With $GITHUB_STEP_SUMMARY set, a Markdown summary is
    appended to it.

    \b
    Examples:
      edgebench check --baseline baseline.json --device imx6
      edgebench check --baseline baseline.json --device imx6 --suite paper --tolerance 0.5
      edgebench check --baseline baseline.json --run 20261123-1024 --json
    """
    try:
        baseline = load_baseline(baseline_file)
        _, results = _load_run(store_path, device or baseline.identity.device, run_id)
        default, per_model = _parse_tolerances(tolerances)
        settings = CheckSettings(tolerance_pct=DEFAULT_TOLERANCE_PCT if default is None else default,
                                 min_effect_pct=min_effect, per_model_pct=per_model)
        report = check_run(baseline, results, settings=settings, models=selected_models(models, suite),
                           allow_mismatch=allow_mismatch, baseline_file=str(baseline_file))
    except EdgebenchError as exc:
        _append_step_summary(f"### ⚠️ edgebench check could not check\n\n{exc.message}\n"
                             + (f"\nhint: {exc.hint}\n" if exc.hint else ""))
        raise
    _append_step_summary(to_markdown(report))
    warning = mismatch_warning(report)
    if warning:  # loud, and on stderr so it shows with --json too
        err.print(f"[bold red]{warning}[/bold red]", soft_wrap=True)
    if as_json:
        print_json({**to_dict(report), "verdict": report.verdict, "exit_code": report.exit_code})
    else:
        _print_report(report)
    raise SystemExit(report.exit_code)


def _print_report(report: CheckReport) -> None:
    console = stdout_console()
    for line in header_lines(report):
        if line != mismatch_warning(report):  # printed already, on stderr
            console.print(line, highlight=False)
    table = Table(title_justify="left")
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    colours = {"regression": "red", "improvement": "green", "missing": "yellow", "not comparable": "yellow"}
    for model, outcome, *rest in check_rows(report):
        style = colours.get(outcome)
        table.add_row(model, f"[{style}]{outcome}[/{style}]" if outcome != Outcome.OK else outcome, *rest)
    console.print(table)
    colour = {0: "green", 1: "red", 2: "yellow"}[report.exit_code]
    err.print(f"[{colour}]check {report.verdict}[/{colour}]")
    for c in report.checks:
        if c.outcome != Outcome.OK:
            err.print(f"  {c.model}: {c.outcome}: {c.detail}", highlight=False, soft_wrap=True)


def _load_run(store_path: Path | None, device: str | None, run_id: str | None) -> tuple[RunInfo, list[RunResult]]:
    if not (run_id or device):
        raise EdgebenchError("which run? give --device (its latest run) or --run")
    return load_run(store_path, device, run_id)


def _pick(results: list[RunResult], names: list[str], run: RunInfo) -> list[RunResult]:
    by_model = {r.model: r for r in results}
    absent = [n for n in names if n not in by_model]
    if absent:
        raise EdgebenchError(f"run {run.id} has no result for {', '.join(absent)}",
                             f"it holds: {', '.join(by_model)}")
    return [by_model[n] for n in names]


def _parse_tolerances(values: tuple[str, ...]) -> tuple[float | None, dict[str, float]]:
    """'PCT' sets the default, 'MODEL=PCT' one model; each PCT a number >= 0."""
    default, per_model = None, {}
    for value in values:
        model, _, pct = value.rpartition("=")
        try:
            number = float(pct)
        except ValueError:
            number = -1.0
        if not number >= 0 or (model == "" and "=" in value):
            raise EdgebenchError(f"--tolerance {value!r}: expected PCT or MODEL=PCT with PCT a number >= 0")
        if model:
            per_model[model] = number
        else:
            default = number
    return default, per_model


def _kinds(baseline: Baseline) -> str:
    counted = sum(1 for m in baseline.models if m.counters is not None)
    board = sum(1 for m in baseline.models if not m.emulated)
    parts = [f"{counted} with counters"] if counted else []
    if board:
        parts.append(f"{board} timed on a real board")
    return ", ".join(parts) or "no counters"


def _append_step_summary(markdown: str) -> None:
    """GitHub Actions shows what a step appends to this file; a failure to write it never changes the verdict."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown + "\n")
    except OSError as exc:
        err.print(f"[yellow]warning: cannot append to GITHUB_STEP_SUMMARY ({path}): {exc.strerror}[/yellow]")
