"""One program run on a board, as the runner sees it and as a result records it: its options, the command that
starts it in the workdir, its report, and a profiling run's per-layer times."""

from __future__ import annotations

import dataclasses
import posixpath

from edgebench.bench.artifacts import Prepared
from edgebench.boards.launcher import Launcher
from edgebench.boards.state import with_cpus_used
from edgebench.boards.transport import CommandResult
from edgebench.errors import EdgebenchError
from edgebench.ncnn_tools.report import RunnerReport, parse_runner_output, without_progress
from edgebench.ncnn_tools.runner_options import RunnerOptions
from edgebench.results.result import BoardState, LayerProfile, LayerTime, RunSettings
from edgebench.results.stats import median


def runner_options(p: Prepared, settings: RunSettings) -> RunnerOptions:
    """The runner's options for one model. Paths are relative to the workdir: the same argv on every host, so
    the same heap layout and, under the counting plugin, the same cache misses wherever the workdir lives."""
    m = p.manifest
    return RunnerOptions(param=posixpath.join(p.remote_dir, m.param_file), bin=posixpath.join(p.remote_dir, m.bin_file),
                         shape=tuple(m.ncnn_input.shape), input_blob=m.ncnn_input.name,
                         output_blob=m.ncnn_output.name, settings=settings, output_values=True)


def in_workdir(workdir: str, program: list[str]) -> list[str]:
    """`program` started in the board's workdir."""
    return ["sh", "-c", 'cd -- "$1" && shift && exec "$@"', "sh", workdir, *program]


def parsed_report(res: CommandResult, where: str) -> RunnerReport:
    """The runner's report from how its command ended; a killed runner's partial output is not one."""
    if res.signal is not None:
        raise EdgebenchError(dataclasses.replace(res, stderr=without_progress(res.stderr)).describe())
    return parse_runner_output(res.stdout, res.exit_status, where)


def as_seen(board: BoardState, report: RunnerReport, launcher: Launcher) -> BoardState:
    """The board state with what the runner saw: its CPUs, what NCNN detected and, emulated, the system view."""
    board = dataclasses.replace(with_cpus_used(board, report.cpus_used), ncnn_cpu=report.cpu)
    return dataclasses.replace(board, system_view=launcher.view.describe()) if launcher.view is not None else board


def layer_profile(report: RunnerReport, runtime_key: str, unprofiled_ms: float) -> LayerProfile:
    """A profiling runner's report as a LayerProfile: each layer's median, and its share of their sum."""
    if not report.layers:
        raise EdgebenchError("the profiling runner reported no layers (is it an NCNN_BENCHMARK build?)")
    medians = [median(layer.samples_ms) for layer in report.layers]
    total = sum(medians)
    layers = [LayerTime(name=layer.name, type=layer.type, median_ms=ms, share=ms / total if total > 0 else 0.0)
              for layer, ms in zip(report.layers, medians)]
    return LayerProfile(runtime_key=runtime_key, iterations=len(report.samples_ms),
                        profiled_ms=median(report.samples_ms), unprofiled_ms=unprofiled_ms, layers=layers)
