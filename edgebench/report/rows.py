"""One report row per model: the figures every format shows, each kind of latency kept in its own field."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from edgebench.modeling.latency_model import CpuConstants, load_constants, remodel
from edgebench.results.result import Basis, IterationCounts, ModeledLatency, NcnnCpuInfo, RunResult, Status
from edgebench.results.stats import CONFIDENCE, Summary, summarize

BASES = tuple(Basis)  # the kinds of latency, most trusted first
BASIS_LABELS = {
    Basis.MEASURED: "measured median ms",
    Basis.MODELED: "modeled ms",
    Basis.EMULATED: "emulated wall-time median ms (QEMU, not board latency)",
}

# Trailing name tokens that pick a variant rather than a family: width (0.5x), groups (g3), resolution (224),
# data set (cifar10). Mirrors the zoo's naming so reports need not import the zoo (and torch).
_VARIANT_TOKEN = re.compile(r"^(\d+(\.\d+)?x|g\d+|\d+|cifar\d+|imagenet)$")


def family_of(model: str) -> str:
    """fd_mobilenet_0.5x -> fd_mobilenet; shufflenet_v1_g3_1.0x -> shufflenet_v1; effnet_cifar10 -> effnet."""
    tokens = model.split("_")
    while len(tokens) > 1 and _VARIANT_TOKEN.match(tokens[-1]):
        tokens.pop()
    return "_".join(tokens)


@dataclass(frozen=True)
class Headline:
    """The one figure a reader should take from a row, with what it is of: measured on a board; on an
    emulated board the modeled latency (QEMU's wall time says how slow the emulator is, not the board), or
    the wall time only when nothing was counted."""

    basis: Basis
    ms: float
    low_ms: float | None  # its interval: the median's 95 % CI, or the modeled interval; None when there is none
    high_ms: float | None
    level: float | None  # 0.95, 0.9, ...
    cpu: str | None  # modeled: the CPU the constants are of; measured: the board's CPU as it names itself
    clock_mhz: float | None  # modeled: the clock assumed; measured: the clock read before the run

    def describe(self) -> str:
        """'modeled, cortex-a9 @ 800 MHz', 'measured @ 792 MHz': the basis with the CPU and clock it is of. A
        board's own CPU name ('ARMv7 Processor rev 10 (v7l)') is long: the report's device line carries it."""
        cpu = f", {self.cpu}" if self.cpu and self.basis != Basis.MEASURED else ""
        clock = f" @ {self.clock_mhz:g} MHz" if self.clock_mhz else ""
        return f"{self.basis}{cpu}{clock}"


@dataclass(frozen=True)
class ModelRow:
    model: str
    family: str
    device: str
    status: str
    error: str | None
    emulator: str | None  # set when the timed samples are emulated wall time
    summary: Summary | None  # of the timed iterations (warm-up excluded); None when the run failed
    warmup: int
    modeled_ms: float | None  # = modeled.ms when that is known
    modeled: ModeledLatency | None  # with the installed constants when they cover the run, else as stored
    modeled_note: str  # where the modeled figure comes from, when not simply the installed constants
    modeled_counts: IterationCounts | None  # the median iteration it is of (None when not re-modeled)
    modeled_constants: str | None  # CpuConstants.identity it was modeled with, when they are installed
    macs_m: float | None  # millions of multiply-adds (what the papers call MFLOPs)
    first_inference_ms: float | None
    load_ms: float | None
    peak_rss_kb: int | None
    instructions_per_iter: int | None  # median over iterations (QEMU counters), None without counters
    flags: tuple[str, ...]  # why the headline figure deserves caution (spread, board state, failure, modeling)
    wall_time_flags: tuple[str, ...]  # emulated rows with a modeled headline: what concerns QEMU's wall time only
    headline: Headline | None  # None when the run has no figure at all (failed)
    ncnn_cpu: NcnnCpuInfo | None  # what NCNN detected on the board; None for results stored before it was reported
    system_view: str | None  # emulated: the board's system view the guest saw, e.g. "imx6 view d8c2b2202883"
    board: str | None = None  # which board of a run spread over several it ran on (a labgrid place)

    def latency(self, basis: Basis) -> float | None:
        """This model's latency of one kind, or None if the run has no figure of that kind."""
        if basis == Basis.MODELED:
            return self.modeled_ms
        if self.summary is None or (basis == Basis.EMULATED) != (self.emulator is not None):
            return None
        return self.summary.median

    def ci(self, basis: Basis) -> tuple[float, float] | None:
        """The interval behind `latency(basis)`: the median's 95% interval for timed figures, the modeled
        interval (90%) for modeled ones; None when there is none (constants without interval data)."""
        if self.latency(basis) is None:
            return None
        if basis == Basis.MODELED:
            m = self.modeled
            return None if m is None or m.low_ms is None else (m.low_ms, m.high_ms)
        return self.summary.ci_low, self.summary.ci_high


def build_row(result: RunResult, constants: dict[str, CpuConstants] | None = None) -> ModelRow:
    """One row; the modeled figure is made again from the stored counts with `constants` (default: the installed
    ones) wherever they cover the run's CPU and caches, so a refit never leaves stale figures in a report."""
    ok = result.status == Status.OK
    summary = summarize(result.samples_ms) if ok and result.samples_ms else None
    # Spread and board-state flags speak of timed samples; on an emulated row with a modeled figure they are
    # about QEMU's wall time (and the host's load), which exact counts do not feel.
    timed_flags = [*(summary.flags if summary else ()), *result.board.flags]
    flags: list[str] = []
    if not ok:
        flags.insert(0, f"failed: {result.error or 'no error message'}")
    elif summary is None:
        flags.append("no timed samples")
    instructions = None
    if result.counters:
        instructions = int(np.median([c.instructions for c in result.counters]))
    table = load_constants() if constants is None else constants
    again = remodel(result.modeled, result.modeled_ms, result.counters, result.mflops * 1e6 if result.mflops else None,
                    result.arch, table)
    modeled = again.figure
    modeled_ms = modeled.ms if modeled else result.modeled_ms
    emulated = result.board.emulated
    wall_time_flags: list[str] = []
    if emulated and modeled_ms is not None:
        wall_time_flags = timed_flags
    else:
        flags += timed_flags
    flags += [f"modeled: {f}" for f in (*(modeled.flags if modeled else ()), again.note) if f]
    if ok and emulated and result.counters and modeled_ms is None:
        flags.append(f"counted, not modeled: no installed latency constants cover its CPU in {result.arch} "
                     "(`edgebench devices` shows which boards are modeled)")
    headline = _headline(result, summary, modeled, modeled_ms)
    return ModelRow(
        model=result.model,
        family=family_of(result.model),
        device=result.device,
        status=result.status,
        error=result.error,
        emulator=(result.board.emulator or "emulator") if result.board.emulated else None,
        summary=summary,
        warmup=result.settings.warmup,
        modeled_ms=modeled_ms,
        modeled=modeled,
        modeled_note=again.note,
        modeled_counts=again.counts,
        modeled_constants=again.constants.identity if again.constants else None,
        macs_m=result.mflops,
        first_inference_ms=result.first_inference_ms if ok else None,
        load_ms=result.load_ms if ok else None,
        peak_rss_kb=result.peak_rss_kb if ok else None,
        instructions_per_iter=instructions,
        flags=tuple(flags),
        wall_time_flags=tuple(wall_time_flags),
        headline=headline,
        ncnn_cpu=result.board.ncnn_cpu,
        system_view=result.board.system_view,
        board=result.board_name,
    )


def _headline(result: RunResult, summary: Summary | None, modeled: ModeledLatency | None,
              modeled_ms: float | None) -> Headline | None:
    board = result.board
    if board.emulated and modeled_ms is not None:
        if modeled is None:  # stored before figures carried their CPU and interval
            return Headline(Basis.MODELED, modeled_ms, None, None, None, None, None)
        return Headline(Basis.MODELED, modeled.ms, modeled.low_ms, modeled.high_ms, modeled.level, modeled.cpu,
                        modeled.clock_mhz)
    if summary is None:
        return None
    if Basis.of_wall_time(board.emulated) is Basis.EMULATED:
        return Headline(Basis.EMULATED, summary.median, summary.ci_low, summary.ci_high, CONFIDENCE, board.emulator, None)
    clock = board.freq_khz_before / 1000 if board.freq_khz_before else None
    return Headline(Basis.MEASURED, summary.median, summary.ci_low, summary.ci_high, CONFIDENCE, board.cpu_model or None,
                    clock)
